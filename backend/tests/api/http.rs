//! Request ids and CORS.

use faro_testkit::{TestApp, header};

fn request_id(response: &reqwest::Response) -> String {
    header(response, "x-request-id").expect("every response carries x-request-id")
}

#[tokio::test]
async fn request_id_is_echoed_when_given() {
    let app = TestApp::spawn().await;
    let response = app
        .get_with_header(
            "/healthz",
            "x-request-id",
            "Root=1-67891233-abcdef012345678912345678",
        )
        .await;
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
        .get_with_header("/healthz", "x-request-id", "{\"forged\": \"log line\"}")
        .await;
    assert!(uuid::Uuid::parse_str(&request_id(&response)).is_ok());
}

#[tokio::test]
async fn cors_admits_only_configured_origins() {
    let app = TestApp::spawn_setting("FARO_CORS_ORIGINS", "https://app.example.com").await;
    let allowed = app
        .get_with_header("/api/version", "origin", "https://app.example.com")
        .await;
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials").as_deref(),
        Some("true")
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
    let allowed_headers = header(&preflight, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("idempotency-key"),
        "{allowed_headers}"
    );

    let foreign = app
        .get_with_header("/api/version", "origin", "https://evil.example.net")
        .await;
    assert!(header(&foreign, "access-control-allow-origin").is_none());
}
