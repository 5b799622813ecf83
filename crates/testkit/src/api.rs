//! The HTTP API at one base URL.

use crate::fixtures::Signed;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// Faro's API at `base` (`http://host:port`), through one client.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A signed-out GET.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request is answered")
    }

    /// A signed-out GET with header `name: value`.
    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> Response {
        let request = self.client.get(self.url(path)).header(name, value);
        request.send().await.expect("request is answered")
    }

    /// A request carrying `who`'s bearer token.
    pub fn as_user(&self, who: &Signed, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&who.token)
    }

    /// Sends `body` (if any) as `who` (or signed out).
    pub async fn send(
        &self,
        who: Option<&Signed>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let request = match who {
            Some(who) => self.as_user(who, method, path),
            None => self.client.request(method, self.url(path)),
        };
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        request.send().await.expect("answered")
    }

    /// `who`'s request without a body.
    pub async fn call(&self, who: &Signed, method: Method, path: &str) -> Response {
        self.call_with_token(&who.token, method, path).await
    }

    /// A request without a body carrying bearer token `token` (of any session, or none).
    pub async fn call_with_token(&self, token: &str, method: Method, path: &str) -> Response {
        let request = self.client.request(method, self.url(path));
        request.bearer_auth(token).send().await.expect("answered")
    }

    /// `who`'s GET of `path`, which must answer 200 with a `T`.
    pub async fn get_as<T: DeserializeOwned>(&self, who: &Signed, path: &str) -> T {
        let response = self.send(Some(who), Method::GET, path, None).await;
        expect_json(response, 200, path).await
    }
}

/// The body of `response`, which must have `status`; `what` names the call in the failure.
pub async fn expect_json<T: DeserializeOwned>(response: Response, status: u16, what: &str) -> T {
    let actual = response.status().as_u16();
    if actual != status {
        let text = response.text().await.unwrap_or_default();
        panic!("{what}: expected {status}, got {actual}: {text}");
    }
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Header `name` of `response`, if it is there and text.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Asserts that `response` is a 200 opening an event stream.
pub fn expect_event_stream(response: &Response) {
    assert_eq!(response.status(), 200);
    let content_type = header(response, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
}
