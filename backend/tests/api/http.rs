//! Request ids and CORS.

use crate::support::TestApp;

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every response carries x-request-id")
        .to_owned()
}

#[tokio::test]
async fn request_id_is_echoed_when_given() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "Root=1-67891233-abcdef012345678912345678")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        request_id(&response),
        "Root=1-67891233-abcdef012345678912345678"
    );
}

#[tokio::test]
async fn request_id_is_generated_when_missing_or_unfit() {
    let app = TestApp::spawn().await;
    let first = request_id(&app.get("/healthz").await);
    let second = request_id(&app.get("/healthz").await);
    assert_ne!(first, second);
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "{\"forged\": \"log line\"}")
        .send()
        .await
        .expect("answered");
    assert!(uuid::Uuid::parse_str(&request_id(&response)).is_ok());
}

#[tokio::test]
async fn cors_admits_only_configured_origins() {
    let app = TestApp::spawn_setting("FARO_CORS_ORIGINS", "https://app.example.com").await;
    let allowed = app
        .client
        .get(app.url("/api/version"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://app.example.com"[..])
    );
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/version"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key",
        )
        .send()
        .await
        .expect("answered");
    assert!(preflight.status().is_success());
    let allowed_headers = preflight
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("idempotency-key"),
        "{allowed_headers}"
    );

    let foreign = app
        .client
        .get(app.url("/api/version"))
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .expect("answered");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
