//! How sessions end besides signing out: unused for too long, a password change (the others),
//! signing out everywhere (all of them); and answers carrying a token are never cached.

use aws_sdk_dynamodb::types::AttributeValue;
use faro_backend::audit::{self, Scope};
use faro_testkit::{PASSWORD, Signed, TestApp, header, problem, problem_naming};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let body = json!({"email": email, "password": password});
    app.send(None, Method::POST, "/api/auth/login", Some(&body))
        .await
}

async fn me_status(app: &TestApp, who: &Signed) -> u16 {
    app.call(who, Method::GET, "/api/me")
        .await
        .status()
        .as_u16()
}

async fn change_password(app: &TestApp, who: &Signed, current: &str) -> reqwest::Response {
    let body = json!({"current_password": current, "new_password": NEW_PASSWORD});
    app.send(Some(who), Method::POST, "/api/me/password", Some(&body))
        .await
}

/// The actions in `who`'s own audit log, newest first.
async fn account_actions(app: &TestApp, who: &Signed) -> Vec<String> {
    // Audit entries are written in batches; the request that caused one waits for it.
    let page = audit::list(&app.state, Scope::User(who.user.id), None, 20)
        .await
        .expect("the account's audit log");
    page.items.into_iter().map(|e| e.action).collect()
}

#[tokio::test]
async fn answers_carrying_a_token_are_never_stored() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "nostore@example.com", "password": PASSWORD, "name": "Ada"});
    let signed_up = app
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    assert_eq!(signed_up.status(), 201);
    assert_eq!(
        header(&signed_up, "cache-control").as_deref(),
        Some("no-store")
    );
    let signed_in = login(&app, "nostore@example.com", PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        header(&signed_in, "cache-control").as_deref(),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let here = app.signup("Ada").await;
    let elsewhere = app.login(&here.user.email).await;
    assert_eq!(me_status(&app, &elsewhere).await, 200);

    let response = change_password(&app, &here, PASSWORD).await;
    assert_eq!(response.status(), 204);

    assert_eq!(
        me_status(&app, &here).await,
        200,
        "the session it came from"
    );
    problem(app.call(&elsewhere, Method::GET, "/api/me").await, 401).await;
    problem(login(&app, &here.user.email, PASSWORD).await, 401).await;
    assert_eq!(
        login(&app, &here.user.email, NEW_PASSWORD).await.status(),
        200
    );
    assert!(
        account_actions(&app, &here)
            .await
            .contains(&"account.password_change".to_owned())
    );
}

#[tokio::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let app = TestApp::spawn().await;
    let here = app.signup("Ada").await;
    let elsewhere = app.login(&here.user.email).await;

    let wrong = change_password(&app, &here, "not my password at all").await;
    problem_naming(wrong, 403, "current_password", "wrong current password").await;
    let body = json!({"current_password": PASSWORD, "new_password": "short"});
    let weak = app
        .send(Some(&here), Method::POST, "/api/me/password", Some(&body))
        .await;
    problem_naming(weak, 422, "new_password", "too short").await;

    assert_eq!(me_status(&app, &elsewhere).await, 200);
    assert_eq!(login(&app, &here.user.email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn guessing_the_current_password_is_limited_per_account() {
    let app = TestApp::spawn_setting("FARO_LOGIN_ATTEMPTS_PER_ACCOUNT", "2").await;
    let thief = app.signup("Ada").await;
    for _ in 0..2 {
        let guess = change_password(&app, &thief, "a guessed password").await;
        problem(guess, 403).await;
    }
    let limited = change_password(&app, &thief, PASSWORD).await;
    assert!(header(&limited, "retry-after").is_some());
    problem(limited, 429).await;
    // The owner still signs in, and can end the thief's session from there.
    assert_eq!(login(&app, &thief.user.email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_account_only() {
    let app = TestApp::spawn().await;
    let here = app.signup("Ada").await;
    let elsewhere = app.login(&here.user.email).await;
    let bob = app.signup("Bob").await;

    let response = app.call(&here, Method::POST, "/api/auth/logout-all").await;
    assert_eq!(response.status(), 204);
    let cleared = header(&response, "set-cookie").unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    for ended in [&here, &elsewhere] {
        problem(app.call(ended, Method::GET, "/api/me").await, 401).await;
    }
    assert_eq!(
        me_status(&app, &bob).await,
        200,
        "another account's session"
    );
    let again = app.login(&here.user.email).await;
    assert_eq!(
        me_status(&app, &again).await,
        200,
        "a session begun afterwards"
    );
    assert!(
        account_actions(&app, &here)
            .await
            .contains(&"account.logout_all".to_owned())
    );
}

/// Another task that verified a session a moment before trusts its memory of it for
/// `FARO_SESSION_CACHE_MS`, then sees that it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tasks_see_sessions_ended_everywhere_once_their_memory_of_them_lapses() {
    let app = TestApp::spawn().await;
    let here = app.signup("Ada").await;
    let elsewhere = app.login(&here.user.email).await;
    let remembering = TestApp::builder()
        .set("FARO_SESSION_CACHE_MS", "60000")
        .spawn_beside(&app)
        .await;
    let me = || {
        app.client
            .get(remembering.url("/api/me"))
            .bearer_auth(&elsewhere.token)
            .send()
    };
    assert_eq!(me().await.expect("answered").status(), 200);
    let response = app.call(&here, Method::POST, "/api/auth/logout-all").await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        me().await.expect("answered").status(),
        200,
        "still within its memory of the session"
    );
    remembering.state.clock.advance(Duration::from_secs(60));
    problem(me().await.expect("answered"), 401).await;
}

/// When DynamoDB last recorded a use of `who`'s session (epoch milliseconds).
async fn last_seen(app: &TestApp, who: &Signed) -> String {
    use sha2::Digest;
    let pk = format!(
        "SESSION#{}",
        hex::encode(sha2::Sha256::digest(who.token.as_bytes()))
    );
    let item = app
        .state
        .dynamo
        .get_item()
        .table_name(&*app.state.table)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S("SESSION".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("read the session")
        .item
        .expect("the session's item");
    item["last_seen"].as_n().expect("a number").clone()
}

#[tokio::test]
async fn an_unused_session_ends_while_a_used_one_lives_on() {
    let app = TestApp::spawn_setting("FARO_SESSION_IDLE_MINUTES", "60").await;
    let unused = app.signup("Ada").await;
    let used = app.login(&unused.user.email).await;
    let clock = &app.state.clock;

    clock.advance(Duration::from_secs(40 * 60));
    assert_eq!(me_status(&app, &used).await, 200);
    let recorded = last_seen(&app, &used).await;
    // A minute later (past the task's memory of the session, so DynamoDB is asked again):
    // too soon to record the use again.
    clock.advance(Duration::from_secs(60));
    assert_eq!(me_status(&app, &used).await, 200);
    assert_eq!(
        last_seen(&app, &used).await,
        recorded,
        "no write per request"
    );

    clock.advance(Duration::from_secs(30 * 60));
    problem(app.call(&unused, Method::GET, "/api/me").await, 401).await;
    assert_eq!(me_status(&app, &used).await, 200, "used 31 minutes ago");
}
