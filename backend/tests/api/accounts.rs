//! Sign-up, sign-in, sessions and their limits.

use aws_sdk_dynamodb::types::AttributeValue;
use faro_testkit::{PASSWORD, TestApp, header, problem};
use reqwest::Method;
use serde_json::json;

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.send(
        None,
        Method::POST,
        "/api/auth/login",
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

/// A sign-in from client address `from`, as the load balancer forwards it.
pub(crate) async fn login_from(
    app: &TestApp,
    from: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn signup_signs_in_and_me_answers_with_bearer_or_cookie() {
    let app = TestApp::spawn().await;
    let body =
        json!({"email": "  Grace@Example.COM ", "password": PASSWORD, "name": " Grace Hopper "});
    let response = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    assert_eq!(response.status(), 201);
    let cookie = header(&response, "set-cookie").expect("a session cookie");
    assert!(cookie.starts_with("faro_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP test runs have no Secure flag: {cookie}"
    );
    let session: faro_types::Session = response.json().await.expect("session");
    assert_eq!(session.user.email, "grace@example.com");
    assert_eq!(session.user.name, "Grace Hopper");
    assert_eq!(session.token.len(), 64);

    let me = app
        .call_with_token(&session.token, Method::GET, "/api/me")
        .await;
    assert_eq!(me.status(), 200);
    assert_eq!(
        me.json::<faro_types::User>().await.expect("user"),
        session.user
    );

    let via_cookie = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", cookie.split(';').next().expect("pair"))
        .send()
        .await
        .expect("answered");
    assert_eq!(via_cookie.status(), 200);
}

#[tokio::test]
async fn signup_validates_every_field_and_refuses_duplicates() {
    let app = TestApp::spawn().await;
    let response = app
        .send(
            None,
            Method::POST,
            "/api/auth/signup",
            Some(&json!({"email": "nope", "password": "short", "name": ""})),
        )
        .await;
    let p = problem(response, 422).await;
    let fields: Vec<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["email", "password", "name"]);

    let body = json!({"email": "a@example.com", "password": PASSWORD, "name": "A", "admin": true});
    let response = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    assert_eq!(problem(response, 422).await.field.as_deref(), Some("admin"));

    let ada = app.signup("Ada").await;
    let response = app
        .client
        .post(app.url("/api/auth/signup"))
        .json(
            &json!({"email": ada.user.email.to_uppercase(), "password": PASSWORD, "name": "Other"}),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(problem(response, 409).await.field.as_deref(), Some("email"));
}

#[tokio::test]
async fn login_accepts_the_right_password_only() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let ok = login(&app, &ada.user.email.to_uppercase(), PASSWORD).await;
    assert_eq!(ok.status(), 200);
    let session: faro_types::Session = ok.json().await.expect("session");
    assert_ne!(session.token, ada.token, "every sign-in is a new session");

    let wrong = problem(
        login(&app, &ada.user.email, "wrong password here").await,
        401,
    )
    .await;
    let unknown = problem(login(&app, "nobody@example.com", PASSWORD).await, 401).await;
    // Same answer whether the account exists or not.
    assert_eq!(wrong.detail, unknown.detail);
}

#[tokio::test]
async fn signed_out_or_bogus_tokens_are_401() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/me").await;
    assert!(response.headers().contains_key("www-authenticate"));
    problem(response, 401).await;
    for token in ["x", &"0".repeat(64), &"z".repeat(64)] {
        let response = app.call_with_token(token, Method::GET, "/api/me").await;
        problem(response, 401).await;
    }
}

#[tokio::test]
async fn logout_ends_the_session_everywhere() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let response = app.call(&ada, Method::POST, "/api/auth/logout").await;
    assert_eq!(response.status(), 204);
    let cleared = header(&response, "set-cookie").unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    problem(app.call(&ada, Method::GET, "/api/me").await, 401).await;
}

/// Signing out on one task, seen from another that verified the token a moment before:
/// it trusts its memory of the session for `FARO_SESSION_CACHE_MS`, then asks DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tasks_refuse_a_signed_out_session_once_their_memory_of_it_lapses() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    // The longest memory allowed, which no slow machine outlasts by accident: the test ends
    // it by moving that task's clock on.
    let remembering = TestApp::builder()
        .set("FARO_SESSION_CACHE_MS", "60000")
        .spawn_beside(&app)
        .await;
    let asking = TestApp::builder()
        .set("FARO_SESSION_CACHE_MS", "0")
        .spawn_beside(&app)
        .await;
    let me = |base: String| app.client.get(base).bearer_auth(&ada.token).send();
    for sibling in [&remembering, &asking] {
        let status = me(sibling.url("/api/me")).await.expect("answered").status();
        assert_eq!(status, 200);
    }
    let response = app.call(&ada, Method::POST, "/api/auth/logout").await;
    assert_eq!(response.status(), 204);

    problem(me(asking.url("/api/me")).await.expect("answered"), 401).await;
    assert_eq!(
        me(remembering.url("/api/me"))
            .await
            .expect("answered")
            .status(),
        200,
        "still within its memory of the session"
    );
    remembering
        .state
        .clock
        .advance(std::time::Duration::from_secs(60));
    problem(me(remembering.url("/api/me")).await.expect("answered"), 401).await;
}

#[tokio::test]
async fn an_expired_session_is_refused_even_before_ttl_deletion() {
    // This is about what DynamoDB holds: no task-local memory of the session in between.
    let app = TestApp::spawn_setting("FARO_SESSION_CACHE_MS", "0").await;
    let ada = app.signup("Ada").await;
    assert_eq!(app.call(&ada, Method::GET, "/api/me").await.status(), 200);

    // DynamoDB deletes expired items lazily; the backend must not trust an item that lingers.
    use sha2::Digest;
    let pk = format!(
        "SESSION#{}",
        hex::encode(sha2::Sha256::digest(ada.token.as_bytes()))
    );
    let past = (chrono::Utc::now().timestamp() - 5).to_string();
    app.state
        .dynamo
        .update_item()
        .table_name(&*app.state.table)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S("SESSION".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N(past))
        .send()
        .await
        .expect("update");
    problem(app.call(&ada, Method::GET, "/api/me").await, 401).await;
}

/// Reverses what this test once said (429 for the right password past the account's limit):
/// anyone could lock the owner out by guessing. Now the guessing network is refused, and the
/// owner, from elsewhere, signs in after a delay.
#[tokio::test]
async fn a_spray_of_wrong_passwords_is_refused_while_the_right_one_from_another_network_signs_in() {
    let app = TestApp::builder()
        .set("FARO_TRUST_FORWARDED_FOR", "true")
        .set("FARO_LOGIN_ATTEMPTS_PER_ACCOUNT_NETWORK", "3")
        .set("FARO_LOGIN_ATTEMPTS_PER_ACCOUNT", "2")
        .set("FARO_LOGIN_DELAY_BASE_MS", "1")
        .set("FARO_LOGIN_DELAY_MAX_MS", "1")
        .spawn()
        .await;
    let ada = app.signup("Ada").await;
    let attacker = "203.0.113.7";
    for _ in 0..3 {
        let guess = login_from(&app, attacker, &ada.user.email, "wrong password here").await;
        problem(guess, 401).await;
    }
    let limited = login_from(&app, attacker, &ada.user.email, "wrong password here").await;
    let retry_after: u64 = header(&limited, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    problem(limited, 429).await;
    // The attacker's network is refused even with the right password: it must not learn it.
    problem(
        login_from(&app, attacker, &ada.user.email, PASSWORD).await,
        429,
    )
    .await;

    let delayed = app.state.sign_in_delays.delayed();
    let owner = login_from(&app, "198.51.100.9", &ada.user.email, PASSWORD).await;
    assert_eq!(owner.status(), 200, "the owner signs in from their network");
    assert_eq!(
        app.state.sign_in_delays.delayed(),
        delayed + 1,
        "past the account's threshold, after a delay"
    );
    // Another account from the attacker's network is not affected by this account's limit.
    let bob = app.signup("Bob").await;
    let response = login_from(&app, attacker, &bob.user.email, PASSWORD).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_address_across_accounts() {
    let app = TestApp::spawn_setting("FARO_LOGIN_ATTEMPTS_PER_ADDRESS", "4").await;
    for n in 0..4 {
        problem(
            login(&app, &format!("guess{n}@example.com"), PASSWORD).await,
            401,
        )
        .await;
    }
    problem(login(&app, "guess9@example.com", PASSWORD).await, 429).await;
}

#[tokio::test]
async fn concurrent_guesses_cannot_exceed_the_limit() {
    let app = TestApp::spawn_setting("FARO_LOGIN_ATTEMPTS_PER_ACCOUNT_NETWORK", "5").await;
    let ada = app.signup("Ada").await;
    let attempts = (0..20).map(|_| login(&app, &ada.user.email, "wrong password here"));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
}
