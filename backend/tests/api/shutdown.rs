//! Graceful shutdown: readiness fails at once, requests are still served while draining, and
//! in-flight requests finish within the grace bound.

use crate::support::{TestApp, problem};
use axum::{Router, routing::get};
use std::time::{Duration, Instant};

fn slow_route(secs: u64) -> Router<faro_backend::AppState> {
    Router::new().route(
        "/test/slow",
        get(move || async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            "finished"
        }),
    )
}

#[tokio::test]
async fn draining_keeps_serving_and_finishes_in_flight_requests() {
    let mut app = TestApp::spawn_with(
        |vars| {
            vars.insert("FARO_SHUTDOWN_DRAIN_SECS".into(), "1".into());
            vars.insert("FARO_SHUTDOWN_GRACE_SECS".into(), "10".into());
        },
        slow_route(2),
    )
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    let in_flight = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/test/slow");
        async move { client.get(url).send().await.expect("answered").text().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let server = app.begin_shutdown();

    // Readiness turns at once so the load balancer drains us...
    tokio::time::sleep(Duration::from_millis(100)).await;
    problem(app.get("/readyz").await, 503).await;
    // ...while other requests are still served during the drain period.
    assert_eq!(app.get("/healthz").await.status(), 200);

    // The in-flight request completes after the listener closed.
    assert_eq!(in_flight.await.expect("joined").expect("body"), "finished");
    server.await.expect("joined").expect("clean stop");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "stopped before the drain period: {took:?}"
    );

    // Once stopped, nothing accepts connections any more.
    let refused = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn in_flight_requests_are_bounded_by_the_grace_period() {
    let mut app = TestApp::spawn_with(
        |vars| {
            vars.insert("FARO_SHUTDOWN_DRAIN_SECS".into(), "0".into());
            vars.insert("FARO_SHUTDOWN_GRACE_SECS".into(), "1".into());
            vars.insert("FARO_REQUEST_TIMEOUT_MS".into(), "120000".into());
        },
        slow_route(60),
    )
    .await;
    let stuck = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/test/slow");
        async move { client.get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let server = app.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stopped within the grace bound")
        .expect("joined")
        .expect("clean stop");
    assert!(started.elapsed() < Duration::from_secs(3));
    stuck.abort();
}
