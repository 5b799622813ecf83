//! Every error is `application/problem+json`, never an empty body or an HTML page.

use axum::{
    Json, Router,
    routing::{get, post},
};
use faro_backend::{AppState, http::ApiJson};
use faro_testkit::{TestApp, header, problem};
use reqwest::Method;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    branch: String,
    commit: Commit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Commit {
    sha: String,
}

/// Routes exercising the shared machinery the API's handlers use.
fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/test/echo",
            post(|ApiJson(r): ApiJson<Release>| async move {
                Json(format!("{}@{}", r.branch, r.commit.sha))
            }),
        )
        .route(
            "/test/panic",
            get(|| async {
                if true {
                    panic!("secret internals");
                }
                "unreachable"
            }),
        )
        .route(
            "/test/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
}

/// A raw `body` of `content_type` sent to the echo route.
async fn echo(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let request = app.client.post(app.url("/test/echo"));
    let request = request.header("content-type", content_type).body(body);
    request.send().await.expect("answered")
}

async fn app() -> TestApp {
    TestApp::builder()
        .set("FARO_BODY_LIMIT_BYTES", "1024")
        .set("FARO_REQUEST_TIMEOUT_MS", "300")
        .routes(routes())
        .spawn()
        .await
}

#[tokio::test]
async fn unknown_route_is_404() {
    let app = app().await;
    let p = problem(app.get("/api/nope?x=1").await, 404).await;
    assert_eq!(p.type_uri, "/problems/not-found");
    assert_eq!(p.instance.as_deref(), Some("/api/nope"));
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = app().await;
    let response = app
        .client
        .delete(app.url("/healthz"))
        .send()
        .await
        .expect("answered");
    let allow = header(&response, "allow").unwrap_or_default();
    assert!(allow.contains("GET"), "Allow: {allow}");
    let p = problem(response, 405).await;
    assert_eq!(p.type_uri, "/problems/method-not-allowed");
    assert!(p.detail.unwrap_or_default().contains("Allow"));
}

#[tokio::test]
async fn valid_json_is_accepted() {
    let app = app().await;
    let response = app
        .send(
            None,
            Method::POST,
            "/test/echo",
            Some(&serde_json::json!({"branch": "main", "commit": {"sha": "abc1234"}})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<String>().await.expect("json"),
        "main@abc1234"
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = app().await;
    let big = serde_json::json!({"branch": "x".repeat(4096), "commit": {"sha": "a"}});
    let response = app.send(None, Method::POST, "/test/echo", Some(&big)).await;
    let p = problem(response, 413).await;
    assert_eq!(p.type_uri, "/problems/payload-too-large");

    // Without a Content-Length the limit still holds while the body streams in.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 512])).collect();
    let response = echo(
        &app,
        "application/json",
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    problem(response, 413).await;
}

#[tokio::test]
async fn non_json_body_is_415_naming_content_type() {
    let app = app().await;
    let response = echo(&app, "text/plain", "branch=main").await;
    let p = problem(response, 415).await;
    assert_eq!(p.field.as_deref(), Some("content-type"));
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field() {
    let app = app().await;
    let cases = [
        (serde_json::json!({"commit": {"sha": "a"}}), "branch"),
        (
            serde_json::json!({"branch": 7, "commit": {"sha": "a"}}),
            "branch",
        ),
        (
            serde_json::json!({"branch": "m", "commit": {"sha": false}}),
            "commit.sha",
        ),
        (
            serde_json::json!({"branch": "m", "commit": {}}),
            "commit.sha",
        ),
        (
            serde_json::json!({"branch": "m", "commit": {"sha": "a"}, "role": "owner"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .send(None, Method::POST, "/test/echo", Some(&body))
            .await;
        let p = problem(response, 422).await;
        assert_eq!(p.type_uri, "/problems/validation");
        assert_eq!(p.field.as_deref(), Some(field), "{body}");
        assert_eq!(p.errors[0].field, field);
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = app().await;
    let response = echo(&app, "application/json", "{\"branch\": ").await;
    let p = problem(response, 400).await;
    assert!(p.detail.unwrap_or_default().contains("not valid JSON"));
}

#[tokio::test]
async fn a_panic_is_a_500_problem_without_internals() {
    let app = app().await;
    let response = app.get("/test/panic").await;
    let p = problem(response, 500).await;
    assert!(
        !serde_json::to_string(&p)
            .expect("json")
            .contains("secret internals")
    );
    // The server survives it.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_problem() {
    let app = app().await;
    let started = std::time::Instant::now();
    problem(app.get("/test/slow").await, 503).await;
    assert!(started.elapsed() < Duration::from_secs(4));
}
