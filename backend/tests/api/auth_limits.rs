//! Sign-up and sign-in under hostile load: the bounded password hashing, the limits per
//! client network (an IPv4 address, an IPv6 /64), and which `X-Forwarded-For` hop they trust.
//! Each test shows the refusal and that the legitimate user still gets through.

use crate::accounts::login_from;
use faro_testkit::{PASSWORD, TestApp, fixtures::unique_email, header, problem};
use futures_util::{StreamExt, stream::FuturesUnordered};
use reqwest::Response;
use serde_json::json;

/// A sign-up of `name` from client address `from`, as the load balancer forwards it.
async fn signup_from(app: &TestApp, from: &str, name: &str) -> Response {
    let body = json!({"email": unique_email(name), "password": PASSWORD, "name": name});
    app.client
        .post(app.url("/api/auth/signup"))
        .header("x-forwarded-for", from)
        .json(&body)
        .send()
        .await
        .expect("answered")
}

/// The whole seconds of a refusal's `Retry-After`.
fn retry_after(response: &Response) -> u64 {
    header(response, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds")
}

#[tokio::test]
async fn sign_ups_beyond_the_hashing_queue_get_503_and_no_more_hashes_run_than_slots() {
    let app = TestApp::builder()
        .set("FARO_PASSWORD_HASH_CONCURRENCY", "1")
        .set("FARO_PASSWORD_HASH_QUEUE_PER_SLOT", "1")
        .set("FARO_PASSWORD_HASH_WAIT_MS", "30000")
        .spawn()
        .await;
    // The test holds the only slot, so one sign-up takes the only place in the queue and
    // the rest find none.
    let held = app.state.passwords.slot().await.expect("the only slot");
    let names: Vec<String> = (0..5).map(|n| format!("Burst{n}")).collect();
    let mut answers: FuturesUnordered<_> = names
        .iter()
        .map(|name| signup_from(&app, "127.0.0.1", name))
        .collect();
    for _ in 0..4 {
        let refused = answers.next().await.expect("an answer");
        assert!((1..=5).contains(&retry_after(&refused)));
        problem(refused, 503).await;
    }
    drop(held);
    let queued = answers.next().await.expect("the queued sign-up");
    assert_eq!(
        queued.status(),
        201,
        "the queued sign-up got the freed slot"
    );

    let grace = signup_from(&app, "127.0.0.1", "Grace").await;
    assert_eq!(
        grace.status(),
        201,
        "a sign-up after the burst goes through"
    );
    assert_eq!(
        app.state.passwords.computed(),
        2,
        "refused sign-ups hash nothing"
    );
    assert_eq!(
        app.state.passwords.peak(),
        1,
        "never more hashes at once than slots"
    );
}

#[tokio::test]
async fn sign_ups_are_limited_per_network_while_another_network_signs_up() {
    let app = TestApp::builder()
        .set("FARO_TRUST_FORWARDED_FOR", "true")
        .set("FARO_SIGNUP_ATTEMPTS_PER_NETWORK", "2")
        .spawn()
        .await;
    // Two addresses of one /64, then a third: the network has had its two.
    for (n, from) in ["2001:db8:5:6::1", "2001:db8:5:6::2"]
        .into_iter()
        .enumerate()
    {
        let response = signup_from(&app, from, &format!("Spam{n}")).await;
        assert_eq!(response.status(), 201, "{from}");
    }
    let limited = signup_from(&app, "2001:db8:5:6:ffff::3", "Spam3").await;
    assert!((1..=3600).contains(&retry_after(&limited)));
    problem(limited, 429).await;

    for from in ["2001:db8:5:7::1", "198.51.100.4"] {
        let response = signup_from(&app, from, "Grace").await;
        assert_eq!(response.status(), 201, "another network: {from}");
    }
}

#[tokio::test]
async fn a_taken_email_is_refused_without_hashing_a_password() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let hashed = app.state.passwords.computed();
    let body = json!({"email": ada.user.email.to_uppercase(), "password": PASSWORD, "name": "Eve"});
    let response = app
        .client
        .post(app.url("/api/auth/signup"))
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(problem(response, 409).await.field.as_deref(), Some("email"));
    assert_eq!(
        app.state.passwords.computed(),
        hashed,
        "no hash for a taken e-mail"
    );

    assert_eq!(app.login(&ada.user.email).await.user, ada.user);
}

#[tokio::test]
async fn sign_ins_from_one_ipv6_64_count_as_one_network() {
    let app = TestApp::builder()
        .set("FARO_TRUST_FORWARDED_FOR", "true")
        .set("FARO_LOGIN_ATTEMPTS_PER_ADDRESS", "3")
        .spawn()
        .await;
    let ada = app.signup("Ada").await;
    for (n, from) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::3"]
        .into_iter()
        .enumerate()
    {
        let guess = login_from(&app, from, &format!("guess{n}@example.com"), PASSWORD).await;
        problem(guess, 401).await;
    }
    let rotated = "2001:db8:1:2:ffff:ffff:ffff:ffff";
    problem(
        login_from(&app, rotated, "guess9@example.com", PASSWORD).await,
        429,
    )
    .await;

    let next_64 = login_from(&app, "2001:db8:1:3::1", &ada.user.email, PASSWORD).await;
    assert_eq!(next_64.status(), 200, "the next /64 is another network");
}

#[tokio::test]
async fn a_trusted_forwarded_for_counts_its_last_hop_and_ignores_forged_ones() {
    let app = TestApp::builder()
        .set("FARO_TRUST_FORWARDED_FOR", "true")
        .set("FARO_LOGIN_ATTEMPTS_PER_ADDRESS", "2")
        .spawn()
        .await;
    let ada = app.signup("Ada").await;
    // The client writes what it likes before the hop the load balancer appends.
    for forged in ["198.51.100.1", "198.51.100.2"] {
        let hops = format!("{forged}, 203.0.113.5");
        problem(
            login_from(&app, &hops, "nobody@example.com", PASSWORD).await,
            401,
        )
        .await;
    }
    let hops = "198.51.100.3, 10.9.8.7, 203.0.113.5";
    problem(
        login_from(&app, hops, "nobody@example.com", PASSWORD).await,
        429,
    )
    .await;

    // The socket peer (loopback) is the same for all: only the last hop tells them apart.
    let hops = "203.0.113.5, 203.0.113.6";
    let other = login_from(&app, hops, &ada.user.email, PASSWORD).await;
    assert_eq!(other.status(), 200, "another client behind the same proxy");
}

#[tokio::test]
async fn an_untrusted_forwarded_for_is_ignored_for_the_socket_peer() {
    let app = TestApp::builder()
        .set("FARO_TRUST_FORWARDED_FOR", "false")
        .set("FARO_LOGIN_ATTEMPTS_PER_ADDRESS", "2")
        .spawn()
        .await;
    let ada = app.signup("Ada").await;
    for from in ["203.0.113.1", "203.0.113.2"] {
        let guess = login_from(&app, from, "nobody@example.com", PASSWORD).await;
        problem(guess, 401).await;
    }
    // A new address in the header would be a fresh network if it were believed.
    let response = login_from(&app, "203.0.113.3", &ada.user.email, PASSWORD).await;
    problem(response, 429).await;
}
