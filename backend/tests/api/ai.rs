//! The AI endpoints against the DeepSeek simulator: notes, explanations, streamed chat,
//! outages and limits.
//!
//! Multi-threaded runtimes: the app keeps working in the background (the worker finishing a
//! step) when a test ends, and `TestApp`'s drop blocks its thread while it drops the
//! database, which waits for the app's open transactions; on a single-threaded runtime those
//! could never finish.

use crate::releases::insert_release;
use faro_sim::{Faults, deepseek::CHAT};
use faro_testkit::{
    ProjectWithEnvironments, Signed, Sims, TestApp, app::Builder, expect_event_stream, header,
    problem, problem_naming,
};
use faro_types::{
    ChatDone, ChatRole, ChatStarted, ChatToken, Conversation, Explanation, Problem, Release,
    ReleaseNotes, ReleaseStatus, Role,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn setup(
    adjust: impl FnOnce(Builder) -> Builder,
) -> (TestApp, Sims, Signed, ProjectWithEnvironments) {
    let sims = Sims::start(Duration::from_millis(30)).await;
    // These tests are about AI; releases stay queued unless a test wants the worker.
    let app = TestApp::builder()
        .sims(&sims)
        .set("FARO_WORKER_ENABLED", "false");
    let app = adjust(app).spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    (app, sims, ada, fx)
}

async fn post(app: &TestApp, who: &Signed, path: &str, body: &Value) -> reqwest::Response {
    send(app, who, Method::POST, path, body).await
}

async fn send(
    app: &TestApp,
    who: &Signed,
    method: Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    app.as_user(who, method, path)
        .json(body)
        .send()
        .await
        .expect("answered")
}

/// Says `body` in the chat about release `id`.
async fn chat(app: &TestApp, who: &Signed, id: u64, body: &Value) -> reqwest::Response {
    post(app, who, &format!("/api/releases/{id}/chat"), body).await
}

/// Each body posted to `path` is refused with a 422 naming its field.
async fn expect_invalid<const N: usize>(
    app: &TestApp,
    who: &Signed,
    path: &str,
    cases: [(Value, &str); N],
) {
    for (body, field) in cases {
        problem_naming(post(app, who, path, &body).await, 422, field, &body).await;
    }
}

#[derive(Debug)]
struct SseEvent {
    event: String,
    data: String,
}

/// Reads a whole (finite) event stream.
async fn events(response: reqwest::Response) -> Vec<SseEvent> {
    expect_event_stream(&response);
    let text = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .expect("the stream ends")
        .expect("body");
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                }
            }
            Some(SseEvent {
                event: event?,
                data: data.join("\n"),
            })
        })
        .collect()
}

fn answer_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "token")
        .map(|e| {
            serde_json::from_str::<ChatToken>(&e.data)
                .expect("a token")
                .text
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_drafted_stored_and_editable_by_maintainers() {
    let (app, sims, ada, fx) = setup(|app| app).await;
    let release = app.start_release(&ada, &fx, "production").await;
    let path = format!("/api/releases/{}/notes", release.id);
    let changelog = "feat: one-click checkout\nfix: rounding of totals";
    let response = post(&app, &ada, &path, &json!({"changelog": changelog})).await;
    assert_eq!(response.status(), 200);
    let notes: ReleaseNotes = response.json().await.expect("notes");
    // The simulator echoes the prompt's user message: the release's facts and the changelog.
    assert!(
        notes
            .notes
            .starts_with("Simulated deepseek-chat answer (2 messages"),
        "{}",
        notes.notes
    );
    assert!(notes.notes.contains(changelog), "{}", notes.notes);
    assert!(
        notes.notes.contains(&format!("Project: {}", fx.slug)),
        "{}",
        notes.notes
    );
    assert!(notes.notes.contains("Environment: production (production)"));
    assert!(!notes.notes.contains("example.com"), "no emails in prompts");
    assert_eq!(sims.deepseek.control.requests(CHAT), 1);

    let stored: Release = app
        .call(&ada, Method::GET, &format!("/api/releases/{}", release.id))
        .await
        .json()
        .await
        .expect("release");
    assert_eq!(stored.notes.as_deref(), Some(notes.notes.as_str()));

    let release_path = format!("/api/releases/{}", release.id);
    let edit = async |who, notes: Value| {
        let body = json!({ "notes": notes });
        send(&app, who, Method::PATCH, &release_path, &body).await
    };
    let edited: Release = edit(&ada, json!("## 1.2\nHand-written."))
        .await
        .json()
        .await
        .expect("release");
    assert_eq!(edited.notes.as_deref(), Some("## 1.2\nHand-written."));
    let cleared: Release = edit(&ada, Value::Null).await.json().await.expect("release");
    assert_eq!(cleared.notes, None);

    // Validation and authorization.
    expect_invalid(
        &app,
        &ada,
        &path,
        [
            (json!({"changelog": "  "}), "changelog"),
            (json!({"changelog": "x", "model": "gpt"}), "model"),
        ],
    )
    .await;
    let vic = app.signup("Vic").await;
    app.add_member(&ada, &fx.slug, &vic, Role::Viewer).await;
    problem(
        post(&app, &vic, &path, &json!({"changelog": "x"})).await,
        403,
    )
    .await;
    problem(edit(&vic, json!("mine")).await, 403).await;
    let stranger = app.signup("Stan").await;
    problem(
        post(&app, &stranger, &path, &json!({"changelog": "x"})).await,
        404,
    )
    .await;
    assert_eq!(
        sims.deepseek.control.requests(CHAT),
        1,
        "refused calls cost nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_release_is_explained() {
    let (app, _sims, ada, fx) = setup(|app| app).await;
    let id = insert_release(&app, &fx, fx.staging, &ada, "failed", "main").await;
    sqlx::query("UPDATE releases SET failure_reason = ? WHERE id = ?")
        .bind(
            "Build 3 failed on SleakOps: Step 5/9 : RUN cargo build returned a non-zero code: 101",
        )
        .bind(id)
        .execute(&app.state.db)
        .await
        .expect("reason");
    let response = post(
        &app,
        &ada,
        &format!("/api/releases/{id}/explain"),
        &json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let explanation: Explanation = response.json().await.expect("explanation");
    assert!(
        explanation.explanation.contains("non-zero code: 101"),
        "{}",
        explanation.explanation
    );
    // The simulator answers the requested list with the failing lines of the prompt, so the
    // fixes show what reached the model and that the answer's list was parsed out of it.
    assert!(
        !explanation.explanation.contains("Suggested fixes"),
        "{}",
        explanation.explanation
    );
    let fixes = &explanation.suggested_fixes;
    assert!(
        fixes.iter().all(|f| f.starts_with("Look into: "))
            && fixes.iter().any(|f| f.contains("non-zero code: 101")),
        "{fixes:?}"
    );

    // Viewers may ask; releases that did not fail cannot be explained.
    let vic = app.signup("Vic").await;
    app.add_member(&ada, &fx.slug, &vic, Role::Viewer).await;
    let response = post(
        &app,
        &vic,
        &format!("/api/releases/{id}/explain"),
        &json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let queued = app.start_release(&ada, &fx, "staging").await;
    let p = problem(
        post(
            &app,
            &ada,
            &format!("/api/releases/{}/explain", queued.id),
            &json!({}),
        )
        .await,
        409,
    )
    .await;
    assert!(p.detail.unwrap_or_default().contains("queued"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_answers_stream_token_by_token_and_conversations_keep_their_history() {
    let (app, sims, ada, fx) = setup(|app| app).await;
    sims.deepseek.control.set_settings(faro_sim::Settings {
        token_delay_ms: 2,
        ..sims.deepseek.control.settings()
    });
    let release = app.start_release(&ada, &fx, "staging").await;
    let path = format!("/api/releases/{}/chat", release.id);

    let first = events(post(&app, &ada, &path, &json!({"message": "Is it out yet?"})).await).await;
    assert_eq!(first[0].event, "conversation");
    let started: ChatStarted = serde_json::from_str(&first[0].data).expect("started");
    let answer = answer_of(&first);
    assert!(
        answer.starts_with("Simulated deepseek-chat answer (2 messages"),
        "{answer}"
    );
    // The simulator echoes the last user message: the release's facts, delimited as data,
    // then the question.
    assert!(
        answer.contains("You said: <release>\nProject: "),
        "{answer}"
    );
    assert!(
        answer.ends_with("</timeline>\n\nIs it out yet?"),
        "{answer}"
    );
    let tokens = first.iter().filter(|e| e.event == "token").count();
    assert_eq!(
        tokens,
        faro_sim::deepseek::tokens(&answer).len(),
        "one event per token"
    );
    let last = first.last().expect("events");
    assert_eq!(last.event, "done");
    let done: ChatDone = serde_json::from_str(&last.data).expect("done");
    assert_eq!(done.conversation_id, started.conversation_id);
    assert_eq!(done.usage.completion_tokens as usize, tokens);

    // The second turn sends the history along: system, question, answer, new question.
    let second = events(
        post(
            &app,
            &ada,
            &path,
            &json!({"message": "And now?", "conversation_id": started.conversation_id}),
        )
        .await,
    )
    .await;
    let answer = answer_of(&second);
    assert!(
        answer.starts_with("Simulated deepseek-chat answer (4 messages"),
        "{answer}"
    );
    assert_eq!(second.last().expect("events").event, "done");

    let stored: i32 = app
        .state
        .dynamo
        .query()
        .table_name(&*app.state.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "CONVERSATION#{}",
                started.conversation_id
            )),
        )
        .send()
        .await
        .expect("query")
        .count();
    assert_eq!(stored, 5, "META and four messages");

    // The conversation can be shown again, oldest message first.
    let history_path = format!("{path}/{}", started.conversation_id);
    let get = |who: &Signed, path: &str| app.as_user(who, Method::GET, path).send();
    let shown = get(&ada, &history_path).await.expect("answered");
    assert_eq!(shown.status(), 200);
    let shown: Conversation = shown.json().await.expect("conversation");
    assert_eq!(shown.conversation_id, started.conversation_id);
    assert_eq!(shown.release_id, release.id);
    let said: Vec<(ChatRole, &str)> = shown
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(said.len(), 4, "{said:?}");
    assert_eq!(said[0], (ChatRole::User, "Is it out yet?"));
    assert_eq!(said[1].0, ChatRole::Assistant);
    assert!(said[1].1.ends_with("\n\nIs it out yet?"));
    assert_eq!(said[2], (ChatRole::User, "And now?"));
    assert_eq!(said[3], (ChatRole::Assistant, answer.as_str()));
    assert!(shown.messages[0].at <= shown.messages[3].at);

    // A conversation belongs to its user and its release.
    let max = app.signup("Max").await;
    app.add_member(&ada, &fx.slug, &max, Role::Maintainer).await;
    problem(get(&max, &history_path).await.expect("answered"), 404).await;
    let p = problem(
        get(&ada, &format!("{path}/not_an_id"))
            .await
            .expect("answered"),
        422,
    )
    .await;
    assert_eq!(p.field.as_deref(), Some("conversation_id"));
    let unknown = format!("{path}/{}", uuid::Uuid::new_v4());
    problem(get(&ada, &unknown).await.expect("answered"), 404).await;
    let theirs = json!({"message": "hi", "conversation_id": started.conversation_id});
    problem(post(&app, &max, &path, &theirs).await, 404).await;
    let other = app.start_release(&ada, &fx, "production").await;
    problem(chat(&app, &ada, other.id, &theirs).await, 404).await;
    expect_invalid(
        &app,
        &ada,
        &path,
        [
            (
                json!({"message": "hi", "conversation_id": "../x"}),
                "conversation_id",
            ),
            (json!({"message": ""}), "message"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_breaks_off_ends_with_an_error_event_and_stores_nothing() {
    let (app, sims, ada, fx) = setup(|app| app).await;
    let release = app.start_release(&ada, &fx, "staging").await;
    sims.deepseek.control.set_faults(Faults::truncate());
    let got = events(
        chat(
            &app,
            &ada,
            release.id,
            &json!({"message": "Tell me everything about this release"}),
        )
        .await,
    )
    .await;
    assert_eq!(got[0].event, "conversation");
    assert!(
        got.iter().any(|e| e.event == "token"),
        "some tokens came first"
    );
    let last = got.last().expect("events");
    assert_eq!(last.event, "error");
    let problem: Problem = serde_json::from_str(&last.data).expect("a problem");
    assert_eq!(problem.status, 503);
    let started: ChatStarted = serde_json::from_str(&got[0].data).expect("started");
    // Nothing stored: the conversation does not exist.
    let again = json!({"message": "hi", "conversation_id": started.conversation_id});
    faro_testkit::problem(chat(&app, &ada, release.id, &again).await, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deepseek_outage_is_503_with_retry_after_and_releases_are_unaffected() {
    let sims = Sims::start(Duration::from_millis(30)).await;
    let app = TestApp::builder().sims(&sims).spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    sims.deepseek.control.set_faults(Faults::status(503));
    let release = app.start_release(&ada, &fx, "staging").await;

    for path in ["notes", "chat"] {
        let body = json!({"changelog": "fix: x", "message": "hi"});
        let body = if path == "notes" {
            json!({"changelog": body["changelog"]})
        } else {
            json!({"message": body["message"]})
        };
        let response = post(
            &app,
            &ada,
            &format!("/api/releases/{}/{path}", release.id),
            &body,
        )
        .await;
        let retry_after = header(&response, "retry-after").and_then(|v| v.parse::<u64>().ok());
        let p = problem(response, 503).await;
        assert!(p.detail.unwrap_or_default().contains("DeepSeek"));
        assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    }
    // Repeated failures open the circuit: later calls fail fast, without calling DeepSeek.
    let before = sims.deepseek.control.requests(CHAT);
    assert!(before >= 5, "{before}");
    let response = post(
        &app,
        &ada,
        &format!("/api/releases/{}/notes", release.id),
        &json!({"changelog": "x"}),
    )
    .await;
    problem(response, 503).await;
    assert_eq!(sims.deepseek.control.requests(CHAT), before, "failed fast");
    let status: faro_types::OpsStatus = app.get("/api/status").await.json().await.expect("status");
    let deepseek = status
        .services
        .iter()
        .find(|s| s.name == "deepseek")
        .expect("listed");
    assert_eq!(deepseek.circuit, faro_types::CircuitState::Open);
    assert!(deepseek.retry_in_secs.is_some());

    // The release went on regardless.
    let started = std::time::Instant::now();
    loop {
        let (_, current) = faro_backend::releases::store::find(&app.state.db, release.id)
            .await
            .expect("read")
            .expect("exists");
        if current.status == ReleaseStatus::Deployed {
            break;
        }
        assert!(!current.status.is_final(), "{current:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_calls_are_limited_per_user_and_globally() {
    let (app, sims, ada, fx) = setup(|app| {
        app.set("FARO_AI_REQUESTS_PER_MINUTE", "2")
            .set("FARO_AI_MAX_CONCURRENT", "1")
    })
    .await;
    let release = app.start_release(&ada, &fx, "staging").await;
    let path = format!("/api/releases/{}/notes", release.id);
    // The limit counts fixed minutes of the app's clock: move it to the start of one, so
    // the three calls below have a whole minute to share, not what was left of the current.
    let clock = &app.state.clock;
    let into_minute = clock
        .wall()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        % 60;
    clock.advance(Duration::from_secs(60 - into_minute));
    for _ in 0..2 {
        let response = post(&app, &ada, &path, &json!({"changelog": "x"})).await;
        assert_eq!(response.status(), 200);
    }
    let response = post(&app, &ada, &path, &json!({"changelog": "x"})).await;
    let retry_after = header(&response, "retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after));
    problem(response, 429).await;
    assert_eq!(sims.deepseek.control.requests(CHAT), 2);

    // Another user has their own allowance, but the task's one AI slot is taken by a
    // slow streamed answer.
    let max = app.signup("Max").await;
    app.add_member(&ada, &fx.slug, &max, Role::Maintainer).await;
    sims.deepseek.control.set_settings(faro_sim::Settings {
        token_delay_ms: 100,
        ..sims.deepseek.control.settings()
    });
    let slow_answer = chat(
        &app,
        &max,
        release.id,
        &json!({"message": "a question with several words in it"}),
    )
    .await;
    assert_eq!(slow_answer.status(), 200);
    let response = post(&app, &max, &path, &json!({"changelog": "x"})).await;
    let p = problem(response, 503).await;
    assert!(p.detail.unwrap_or_default().contains("AI assistant"));
    let done = events(slow_answer).await;
    assert_eq!(done.last().expect("events").event, "done");
    let response = post(&app, &max, &path, &json!({"changelog": "x"})).await;
    assert_eq!(response.status(), 200, "the slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_the_ai_features_are_off() {
    let app = TestApp::spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    let release = app.start_release(&ada, &fx, "staging").await;
    let response = post(
        &app,
        &ada,
        &format!("/api/releases/{}/notes", release.id),
        &json!({"changelog": "x"}),
    )
    .await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, 503).await;
}

/// `who`'s organization's AI budget today.
async fn budget_of(app: &TestApp, who: &Signed) -> faro_types::AiBudget {
    let org = app.own_org(who).await;
    app.get_as(who, &format!("/api/orgs/{}/ai-usage", org.slug))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_has_at_most_two_ai_calls_in_flight_while_another_still_gets_through() {
    let (app, sims, ada, fx) = setup(|app| app.set("FARO_AI_REQUESTS_PER_MINUTE", "100")).await;
    let release = app.start_release(&ada, &fx, "staging").await;
    let notes = format!("/api/releases/{}/notes", release.id);
    // Held, each streamed answer stops before its end: both calls are certainly in flight.
    sims.deepseek.control.hold();
    let question = json!({"message": "What changed?"});
    let first = chat(&app, &ada, release.id, &question).await;
    let second = chat(&app, &ada, release.id, &question).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );

    let refused = post(&app, &ada, &notes, &json!({"changelog": "x"})).await;
    let retry_after = header(&refused, "retry-after").and_then(|v| v.parse::<u64>().ok());
    problem(refused, 429).await;
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    let refused = chat(&app, &ada, release.id, &question).await;
    problem(refused, 429).await;

    let max = app.signup("Max").await;
    app.add_member(&ada, &fx.slug, &max, Role::Maintainer).await;
    let response = post(&app, &max, &notes, &json!({"changelog": "x"})).await;
    assert_eq!(response.status(), 200, "another user still gets through");

    sims.deepseek.control.resume();
    for answer in [first, second] {
        assert_eq!(events(answer).await.last().expect("events").event, "done");
    }
    let response = post(&app, &ada, &notes, &json!({"changelog": "x"})).await;
    assert_eq!(response.status(), 200, "the user's calls are free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizations_daily_token_budget_counts_deepseeks_usage_and_refuses_when_spent() {
    let (app, sims, ada, fx) = setup(|app| {
        app.set("FARO_AI_DAILY_TOKENS_PER_ORG", "3000")
            .set("FARO_AI_MAX_TOKENS", "16")
            .set("FARO_AI_REQUESTS_PER_MINUTE", "1000")
    })
    .await;
    let release = app.start_release(&ada, &fx, "staging").await;
    let unused = budget_of(&app, &ada).await;
    assert_eq!((unused.used_tokens, unused.limit_tokens), (0, 3000));

    // What DeepSeek reported for a streamed answer (in its last chunk) is what is counted.
    let answer = events(chat(&app, &ada, release.id, &json!({"message": "Status?"})).await).await;
    let done: ChatDone = serde_json::from_str(&answer.last().expect("events").data).expect("done");
    let reported = u64::from(done.usage.prompt_tokens + done.usage.completion_tokens);
    assert!(done.usage.prompt_tokens > 0 && done.usage.completion_tokens > 0);
    let budget = budget_of(&app, &ada).await;
    assert_eq!(budget.used_tokens, reported);

    // Each call first reserves its bound (the prompt's bytes and the answer's 16 tokens), so
    // the budget is refused before it could be overshot, whatever runs at once.
    let notes = format!("/api/releases/{}/notes", release.id);
    let mut answered = 0;
    let refused = loop {
        let response = post(&app, &ada, &notes, &json!({"changelog": "fix: totals"})).await;
        if response.status() != 200 {
            break response;
        }
        answered += 1;
        assert!(answered < 30, "the budget never ran out");
    };
    let retry_after = header(&refused, "retry-after")
        .and_then(|v| v.parse::<i64>().ok())
        .expect("Retry-After");
    problem(refused, 429).await;
    let budget = budget_of(&app, &ada).await;
    assert!(budget.used_tokens <= budget.limit_tokens, "{budget:?}");
    let until_midnight = (budget.resets_at - chrono::Utc::now()).num_seconds();
    assert!(
        (until_midnight - retry_after).abs() <= 5,
        "Retry-After {retry_after} s is the rest of the UTC day ({until_midnight} s)"
    );
    let calls = sims.deepseek.control.requests(CHAT);
    let max = app.signup("Max").await;
    app.add_member(&ada, &fx.slug, &max, Role::Maintainer).await;
    let response = post(&app, &max, &notes, &json!({"changelog": "fix: totals"})).await;
    problem(response, 429).await;
    assert_eq!(
        sims.deepseek.control.requests(CHAT),
        calls,
        "the organization pays for every member: nothing reached DeepSeek"
    );

    // Another organization's user still gets an answer.
    let (bob, bobs) = app.signup_with_project("Bob").await;
    let theirs = app.start_release(&bob, &bobs, "staging").await;
    let response = post(
        &app,
        &bob,
        &format!("/api/releases/{}/notes", theirs.id),
        &json!({"changelog": "feat: search"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(budget_of(&app, &bob).await.used_tokens > 0);
    assert_eq!(budget_of(&app, &ada).await.used_tokens, budget.used_tokens);

    // Only members see an organization's budget; a new UTC day starts a new one.
    let org = app.own_org(&ada).await;
    let path = format!("/api/orgs/{}/ai-usage", org.slug);
    problem(app.call(&bob, Method::GET, &path).await, 404).await;
    app.state.clock.advance(Duration::from_secs(24 * 3600));
    // A day unused ends a session (the idle timeout): Ada signs in again.
    let ada = app.login(&ada.user.email).await;
    assert_eq!(budget_of(&app, &ada).await.used_tokens, 0);
    let response = post(&app, &ada, &notes, &json!({"changelog": "fix: totals"})).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_answers_have_their_own_timeout_instead_of_the_global_one() {
    let (app, sims, ada, fx) = setup(|app| {
        app.set("FARO_REQUEST_TIMEOUT_MS", "2000")
            .set("FARO_AI_TIMEOUT_MS", "6000")
            .set("FARO_DEEPSEEK_TIMEOUT_MS", "30000")
    })
    .await;
    let release = app.start_release(&ada, &fx, "staging").await;
    let notes = format!("/api/releases/{}/notes", release.id);
    sims.deepseek
        .control
        .set_faults(Faults::latency(Duration::from_secs(4)));
    let response = post(&app, &ada, &notes, &json!({"changelog": "x"})).await;
    assert_eq!(response.status(), 200, "longer than the global timeout");

    sims.deepseek
        .control
        .set_faults(Faults::latency(Duration::from_secs(10)));
    let response = post(&app, &ada, &notes, &json!({"changelog": "x"})).await;
    let p = problem(response, 503).await;
    assert!(
        p.detail.unwrap_or_default().contains("in time"),
        "cut by the AI timeout, long before DeepSeek's own"
    );
}
