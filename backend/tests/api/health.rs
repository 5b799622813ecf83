use faro_testkit::{TestApp, app::closed_port, problem};
use std::time::Duration;

#[tokio::test]
async fn healthz_answers_while_the_process_lives() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_200_when_mysql_and_dynamodb_answer() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readyz_is_503_when_mysql_is_down() {
    let port = closed_port();
    let app = TestApp::builder()
        .set(
            "DATABASE_URL",
            format!("mysql://root@127.0.0.1:{port}/faro"),
        )
        .set("FARO_AUTO_MIGRATE", "false")
        .set("FARO_DATABASE_ACQUIRE_TIMEOUT_MS", "300")
        .spawn()
        .await;
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    let problem = problem(response, 503).await;
    assert_eq!(problem.type_uri, "/problems/service-unavailable");
    assert!(
        problem
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("MySQL"),
        "{problem:?}"
    );
    // The process itself is fine: liveness must not fail with a dependency.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_is_503_when_dynamodb_is_down() {
    let port = closed_port();
    let app = TestApp::builder()
        .set(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://127.0.0.1:{port}"),
        )
        .set("FARO_CREATE_TABLE", "false")
        .spawn()
        .await;
    let problem = problem(app.get("/readyz").await, 503).await;
    let detail = problem.detail.unwrap_or_default();
    assert!(
        detail.contains("DynamoDB") && !detail.contains("MySQL"),
        "{detail}"
    );
}

#[tokio::test]
async fn readiness_is_cached_then_rechecked() {
    // A cache period no slow machine outlasts by accident: the test ends it by moving the
    // app's clock on.
    let app = TestApp::builder()
        .set("FARO_READINESS_CACHE_MS", "600000")
        .set("FARO_DATABASE_ACQUIRE_TIMEOUT_MS", "300")
        .spawn()
        .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    // Take MySQL away: probes within the cache period reuse the last verdict...
    app.state.db.close().await;
    for _ in 0..20 {
        assert_eq!(app.get("/readyz").await.status(), 200);
    }
    // ...and the next probe after it checks again.
    app.state.clock.advance(Duration::from_secs(600));
    problem(app.get("/readyz").await, 503).await;
}

#[tokio::test]
async fn version_reports_the_build() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/version").await;
    assert_eq!(response.status(), 200);
    let info: faro_types::VersionInfo = response.json().await.expect("version info");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(sha) => {
            assert_eq!(info.git_sha, sha);
            let time = info.commit_time.expect("a commit has a time");
            assert!(time.len() >= 20 && time.contains('T'), "{time}");
        }
        None => assert_eq!(info.git_sha, "unknown"),
    }
}
