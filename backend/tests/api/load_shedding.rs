//! Load shedding: past `FARO_MAX_IN_FLIGHT` requests in flight, the next one is answered 503
//! with `Retry-After` at once, while the load balancer's probes still answer.

use crate::until;
use faro_testkit::{TestApp, header, problem};
use tokio::{sync::mpsc, task::JoinHandle};

/// A sign-in whose body arrives only as the test sends it: a slow client holding its request
/// in flight. Dropping the sender ends the body.
fn slow_sign_in(app: &TestApp) -> (mpsc::Sender<&'static str>, JoinHandle<reqwest::Response>) {
    let (tx, rx) = mpsc::channel::<&'static str>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), rx))
    });
    let request = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(body));
    let answer = tokio::spawn(async move { request.send().await.expect("answered") });
    (tx, answer)
}

#[tokio::test]
async fn past_the_in_flight_bound_requests_are_shed_while_the_probes_answer() {
    let app = TestApp::spawn_setting("FARO_MAX_IN_FLIGHT", "2").await;
    assert_eq!(app.get("/api/version").await.status(), 200);

    // Two slow clients take the whole bound: the server holds their half-sent sign-ins.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let (body, answer) = slow_sign_in(&app);
        body.send(r#"{"email":"#).await.expect("first chunk");
        slow.push((body, answer));
    }
    until("both requests in flight", || {
        app.state.in_flight.available() == 0
    })
    .await;

    let response = app.get("/api/version").await;
    assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
    let refused = problem(response, 503).await;
    assert!(
        refused.detail.unwrap_or_default().contains("try again"),
        "the problem says to come back"
    );
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(app.get(probe).await.status(), 200, "{probe} on a full task");
    }

    // The slow clients finish (a malformed sign-in each) and give the bound back: the next
    // caller is served.
    for (body, answer) in slow {
        drop(body);
        let status = answer.await.expect("the slow request ends").status();
        assert!(status.is_client_error(), "{status}");
    }
    until("the bound given back", || {
        app.state.in_flight.available() == 2
    })
    .await;
    assert_eq!(app.get("/api/version").await.status(), 200);
}
