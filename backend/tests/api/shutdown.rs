//! Graceful shutdown: readiness fails at once, requests are still served while draining, and
//! in-flight requests finish within the grace bound.

use axum::{Router, routing::get};
use faro_backend::AppState;
use faro_testkit::{TestApp, problem};
use std::time::{Duration, Instant};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

/// Generous: what each step below waits for happens within milliseconds on an idle machine.
const DEADLINE: Duration = Duration::from_secs(20);

/// The requests of `/test/slow`, a route that tells the test when a request reached its
/// handler and answers `finished` only once the test lets it.
struct Slow {
    arrived: mpsc::UnboundedReceiver<()>,
    finish: watch::Sender<bool>,
}

fn slow_route() -> (Router<AppState>, Slow) {
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    let (finish, finishing) = watch::channel(false);
    let route = Router::new().route(
        "/test/slow",
        get(move || {
            let arrived = arrived_tx.clone();
            let mut finishing = finishing.clone();
            async move {
                let _ = arrived.send(());
                let _ = finishing.wait_for(|finish| *finish).await;
                "finished"
            }
        }),
    );
    (route, Slow { arrived, finish })
}

/// Waits for the server task to end, which it must within [`DEADLINE`] (`within` says what
/// it waited for) and without an error.
async fn stops_cleanly(server: JoinHandle<std::io::Result<()>>, within: &str) {
    tokio::time::timeout(DEADLINE, server)
        .await
        .unwrap_or_else(|_| panic!("{within}"))
        .expect("joined")
        .expect("clean stop");
}

impl Slow {
    /// Waits until a request is inside the handler.
    async fn reached_the_handler(&mut self) {
        tokio::time::timeout(DEADLINE, self.arrived.recv())
            .await
            .expect("the request reached the server")
            .expect("the route lives");
    }

    /// Lets every request in the handler answer.
    fn finish(&self) {
        self.finish.send_replace(true);
    }
}

#[tokio::test]
async fn draining_keeps_serving_and_finishes_in_flight_requests() {
    let drain = Duration::from_secs(3);
    let (route, mut slow) = slow_route();
    let mut app = TestApp::builder()
        .set("FARO_SHUTDOWN_DRAIN_SECS", drain.as_secs().to_string())
        .set("FARO_SHUTDOWN_GRACE_SECS", "20")
        .routes(route)
        .spawn()
        .await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    let in_flight = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/test/slow");
        async move { client.get(url).send().await.expect("answered").text().await }
    });
    slow.reached_the_handler().await;
    let started = Instant::now();
    let server = app.begin_shutdown();

    // Readiness turns so the load balancer drains us, while we still answer...
    loop {
        let status = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap_or_else(|err| panic!("stopped serving before readiness turned: {err}"))
            .status();
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(started.elapsed() < DEADLINE, "readiness never turned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    problem(app.get("/readyz").await, 503).await;
    // ...other requests too, during the drain period.
    assert_eq!(app.get("/healthz").await.status(), 200);

    // Then the listener closes, with the request still in its handler.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    loop {
        match fresh.get(app.url("/healthz")).send().await {
            // Refused, or reset from the backlog of the listener as it closed.
            Err(_) => break,
            Ok(response) => assert_eq!(response.status(), 200),
        }
        assert!(started.elapsed() < DEADLINE, "still accepting connections");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!in_flight.is_finished(), "answered before it was let");
    assert!(!server.is_finished(), "stopped with a request in flight");

    // The in-flight request still completes, and only then does the server stop.
    slow.finish();
    assert_eq!(in_flight.await.expect("joined").expect("body"), "finished");
    stops_cleanly(server, "stopped once the request finished").await;
    let took = started.elapsed();
    assert!(took >= drain, "stopped before the drain period: {took:?}");
}

/// When the grace period runs out, `run` returns with the request still in its handler, and
/// `main` returns: the process ends and its connections with it. The server here runs on a
/// runtime of its own, dropped once `run` returned as `main` drops its own, so the client
/// sees what it would see of the real process.
#[test]
fn a_request_outliving_the_grace_period_is_cut_off_without_an_answer() {
    let grace = Duration::from_secs(1);
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let (route, mut slow) = slow_route();
    let mut app = server_runtime.block_on(
        TestApp::builder()
            .set("FARO_SHUTDOWN_DRAIN_SECS", "0")
            .set("FARO_SHUTDOWN_GRACE_SECS", grace.as_secs().to_string())
            .set("FARO_REQUEST_TIMEOUT_MS", "120000")
            .routes(route)
            .spawn(),
    );

    // No client timeout: whatever ends the request, it is not the client giving up.
    let url = app.url("/test/slow");
    let stuck = client_runtime.spawn(async move { reqwest::Client::new().get(url).send().await });
    client_runtime.block_on(async {
        slow.reached_the_handler().await;
        let started = Instant::now();
        stops_cleanly(app.begin_shutdown(), "stopped within the grace bound").await;
        let took = started.elapsed();
        assert!(took >= grace, "stopped before the grace period: {took:?}");
    });
    assert!(!stuck.is_finished(), "answered before the process ended");
    drop(server_runtime);

    let answer = client_runtime.block_on(async {
        tokio::time::timeout(DEADLINE, stuck)
            .await
            .expect("the client learns the request's fate")
            .expect("joined")
    });
    let err = answer.expect_err("no answer after the grace period");
    let cause = std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .find_map(|e| e.downcast_ref::<hyper::Error>())
    .unwrap_or_else(|| panic!("not an HTTP-level failure: {err:?}"));
    assert!(
        cause.is_incomplete_message(),
        "the connection closes without an answer, not: {cause:?}"
    );
    assert!(!err.is_timeout() && !err.is_connect(), "{err:?}");
    // Only now: dropping the route's handle earlier would have let the handler answer.
    drop(slow);
}
