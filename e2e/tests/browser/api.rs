//! Setting the scene through the API, and checking what the browser did through it.

use faro_types::{Release, Session};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

/// A user created through the API, with the bearer token of their session.
pub struct User {
    pub email: String,
    pub token: String,
}

pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn unique_email(name: &str) -> String {
        format!(
            "{name}-{}@example.com",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }

    pub async fn signup(&self, name: &str) -> User {
        let email = Self::unique_email(&name.to_lowercase());
        let response = self
            .http
            .post(format!("{}/api/auth/signup", self.base))
            .json(&json!({"email": email, "password": PASSWORD, "name": name}))
            .send()
            .await
            .expect("sign-up answered");
        assert_eq!(response.status(), 201, "sign-up of {email}");
        let session: Session = response.json().await.expect("a session");
        User {
            email,
            token: session.token,
        }
    }

    async fn send(
        &self,
        who: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(who)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("answered");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn post(&self, who: &User, path: &str, body: Value) -> Value {
        self.send(&who.token, reqwest::Method::POST, path, Some(body))
            .await
    }

    pub async fn get(&self, who: &User, path: &str) -> Value {
        self.send(&who.token, reqwest::Method::GET, path, None)
            .await
    }

    /// A project with one environment, as `who`.
    pub async fn project(&self, who: &User, slug: &str, environment: &str) {
        self.post(
            who,
            "/api/projects",
            json!({
                "slug": slug,
                "name": format!("Project {slug}"),
                "sleakops_project": slug,
                "repository_url": format!("https://github.com/acme/{slug}"),
                "default_branch": "main",
            }),
        )
        .await;
        self.post(
            who,
            &format!("/api/projects/{slug}/environments"),
            json!({"name": environment, "sleakops_environment": environment}),
        )
        .await;
    }

    pub async fn release(
        &self,
        who: &User,
        slug: &str,
        environment: &str,
        branch: &str,
    ) -> Release {
        let value = self
            .post(
                who,
                &format!("/api/projects/{slug}/releases"),
                json!({"environment": environment, "branch": branch, "commit_sha": "abc1234"}),
            )
            .await;
        serde_json::from_value(value).expect("a release")
    }

    pub async fn releases(&self, who: &User, slug: &str) -> Vec<Release> {
        let page = self
            .get(who, &format!("/api/projects/{slug}/releases"))
            .await;
        serde_json::from_value(page["items"].clone()).expect("a page of releases")
    }

    /// Ends a session the way signing out elsewhere does.
    pub async fn logout(&self, token: &str) {
        let response = self
            .http
            .post(format!("{}/api/auth/logout", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 204);
    }
}
