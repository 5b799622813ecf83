//! The release worker against the SleakOps simulator, real MariaDB and DynamoDB Local.
//!
//! Multi-threaded runtimes: the app keeps working in the background (the worker finishing a
//! step) when a test ends, and `TestApp`'s drop blocks its thread while it drops the
//! database, which waits for the app's open transactions; on a single-threaded runtime those
//! could never finish.

use faro_sim::{
    Faults,
    sleakops::{CREATE_BUILD, CREATE_DEPLOYMENT},
};
use faro_testkit::{
    CutProxy, ProjectWithEnvironments, Signed, Sims, TestApp, app::Builder, fixtures::release_body,
};
use faro_types::{EventKind, OpsStatus, Release, ReleaseStatus, Role, TimelineEvent};
use serde_json::json;
use sqlx::MySqlPool;
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_millis(60);

async fn release(db: &MySqlPool, id: u64) -> Release {
    faro_backend::releases::store::find(db, id)
        .await
        .expect("read")
        .expect("exists")
        .1
}

/// Waits until the release reaches `status` (panicking on another final status).
async fn wait_for(db: &MySqlPool, id: u64, status: ReleaseStatus, within_secs: u64) -> Release {
    let within = Duration::from_secs(within_secs);
    let started = Instant::now();
    loop {
        let current = release(db, id).await;
        if current.status == status {
            return current;
        }
        assert!(
            !current.status.is_final(),
            "release {id} ended {:?} ({:?}) instead of {status:?}",
            current.status,
            current.failure_reason
        );
        assert!(
            started.elapsed() < within,
            "release {id} still {:?} after {within:?}",
            current.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until release `id` fails, and asserts that its reason says each of `phrases`.
async fn wait_for_failure(db: &MySqlPool, id: u64, within_secs: u64, phrases: &[&str]) -> Release {
    let failed = wait_for(db, id, ReleaseStatus::Failed, within_secs).await;
    let reason = failed.failure_reason.as_deref().expect("a reason");
    for phrase in phrases {
        assert!(reason.contains(phrase), "{reason:?} says {phrase:?}");
    }
    failed
}

/// The events of a release that was built and deployed, progress reports aside.
const DEPLOYED: [EventKind; 5] = [
    EventKind::Requested,
    EventKind::BuildStarted,
    EventKind::BuildSucceeded,
    EventKind::DeploymentStarted,
    EventKind::Deployed,
];

/// Release `id`'s timeline, whose events but the progress reports must be of `kinds`.
async fn timeline_of(
    app: &TestApp,
    who: &Signed,
    id: u64,
    kinds: &[EventKind],
) -> Vec<TimelineEvent> {
    let events = app.timeline(who, id, "").await;
    let said: Vec<EventKind> = events
        .iter()
        .map(|e| e.kind)
        .filter(|k| *k != EventKind::Progress)
        .collect();
    assert_eq!(said, kinds, "release {id}");
    events
}

/// Polls `done` until it holds, failing with `what` once `within` has passed.
async fn wait_until(within: Duration, what: &str, done: impl AsyncFn() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Has SleakOps answer every call with a 503, then starts a release to staging.
async fn start_while_sleakops_is_down(
    app: &TestApp,
    sims: &Sims,
    who: &Signed,
    fx: &ProjectWithEnvironments,
) -> Release {
    sims.sleakops.control.set_faults(Faults::status(503));
    app.start_release(who, fx, "staging").await
}

/// (done, claimed_by) of the release's outbox row.
async fn outbox(db: &MySqlPool, id: u64) -> (bool, Option<String>, u32) {
    sqlx::query_as("SELECT done, claimed_by, attempts FROM outbox WHERE release_id = ?")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("outbox row")
}

async fn setup(
    step: Duration,
    adjust: impl FnOnce(Builder) -> Builder,
) -> (TestApp, Sims, Signed, ProjectWithEnvironments) {
    let sims = Sims::start(step).await;
    let app = adjust(TestApp::builder().sims(&sims)).spawn().await;
    let (ada, fx) = app.signup_with_project("Ada").await;
    (app, sims, ada, fx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_built_and_deployed_with_its_timeline_in_order() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    // Production asks a second owner's approval, as it does unless turned off: the whole
    // way, approval included.
    let patch = json!({"requires_approval": true});
    app.update_environment(&ada, &fx.slug, "production", &patch)
        .await;
    let bob = app.signup("Bob").await;
    app.add_member(&ada, &fx.slug, &bob, Role::Owner).await;
    let created = app.start_release(&ada, &fx, "production").await;
    assert_eq!(created.status, ReleaseStatus::AwaitingApproval);
    app.approve_release(&bob, created.id).await;
    let done = wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 20).await;
    assert!(done.sleakops_build_id.is_some());
    assert!(done.sleakops_deployment_id.is_some());
    assert!(done.started_at.is_some() && done.deployed_at.is_some());
    assert_eq!(done.finished_at, done.deployed_at);
    assert_eq!(done.failure_reason, None);
    let decision = done.approval.and_then(|a| a.decision).expect("a decision");
    assert!(decision.approved && decision.by.id == bob.user.id);

    let kinds = [
        EventKind::Requested,
        EventKind::ApprovalRequested,
        EventKind::Approved,
        EventKind::BuildStarted,
        EventKind::BuildSucceeded,
        EventKind::DeploymentStarted,
        EventKind::Deployed,
    ];
    let events = timeline_of(&app, &ada, created.id, &kinds).await;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    let status_of = |kind| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.status)
            .expect("event")
    };
    assert_eq!(
        status_of(EventKind::ApprovalRequested),
        ReleaseStatus::AwaitingApproval
    );
    assert_eq!(status_of(EventKind::Approved), ReleaseStatus::Queued);
    assert_eq!(status_of(EventKind::BuildStarted), ReleaseStatus::Building);
    assert_eq!(
        status_of(EventKind::DeploymentStarted),
        ReleaseStatus::Deploying
    );
    assert_eq!(status_of(EventKind::Deployed), ReleaseStatus::Deployed);
    let build = done.sleakops_build_id.as_deref().expect("build");
    assert!(
        events[3]
            .message
            .contains(&format!("Build {build} started")),
        "{}",
        events[3].message
    );

    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1);
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 1);
    let (done_row, claimed_by, _) = outbox(&app.state.db, created.id).await;
    assert!(done_row);
    assert_eq!(claimed_by, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_of_a_branch_head_records_the_commit_sleakops_built() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    // Staging asks for no approval: the release goes straight to the worker.
    let staging = app.environment(&ada, &fx.slug, "staging").await;
    assert!(!staging.requires_approval);
    let created = app
        .create_release(
            &ada,
            &fx.slug,
            &json!({"environment": "staging", "branch": "main"}),
        )
        .await;
    assert_eq!(created.commit_sha, None);

    let done = wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 20).await;
    // SleakOps built main's head, which only it knows: no commit was sent.
    let head = sims
        .sleakops
        .control
        .branch_head(faro_sim::sleakops::DEFAULT_KEY, "shop", "main")
        .expect("the default key");
    assert_eq!(done.commit_sha.as_deref(), Some(head.as_str()));
    assert_eq!(
        app.release(&ada, created.id).await.commit_sha.as_deref(),
        Some(head.as_str())
    );

    let events = timeline_of(&app, &ada, created.id, &DEPLOYED).await;
    let said = |kind| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.message.clone())
            .expect("event")
    };
    assert!(
        said(EventKind::BuildStarted).contains("main at branch head"),
        "{}",
        said(EventKind::BuildStarted)
    );
    let build = done.sleakops_build_id.as_deref().expect("build");
    assert_eq!(
        said(EventKind::BuildSucceeded),
        format!(
            "Build {build} succeeded on SleakOps (commit {} of main)",
            &head[..7]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_fails_the_release_with_sleakops_errors() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let mut request = release_body("staging");
    request["branch"] = json!("feature/fail-build");
    let created = app.create_release(&ada, &fx.slug, &request).await;
    let says = ["failed on SleakOps", "returned a non-zero code: 101"];
    let failed = wait_for_failure(&app.state.db, created.id, 20, &says).await;
    assert!(failed.finished_at.is_some());
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 0);
    let kinds = [
        EventKind::Requested,
        EventKind::BuildStarted,
        EventKind::Failed,
    ];
    let events = timeline_of(&app, &ada, created.id, &kinds).await;
    let reason = failed.failure_reason.expect("a reason");
    assert_eq!(events.last().expect("last").message, reason);
    assert!(outbox(&app.state.db, created.id).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deployment_fails_the_release_with_sleakops_errors() {
    let (app, _sims, ada, fx) = setup(STEP, |app| app).await;
    // Known to SleakOps by its own name, which the failure quotes.
    let body = json!({"name": "qa-fail-deploy", "sleakops_environment": "qa-fail-deploy"});
    let response = app.post_environment(&ada, &fx.slug, &body).await;
    assert_eq!(response.status(), 201);
    let created = app.start_release(&ada, &fx, "qa-fail-deploy").await;
    let says = [
        "to qa-fail-deploy failed on SleakOps",
        "pods did not become ready",
    ];
    let failed = wait_for_failure(&app.state.db, created.id, 20, &says).await;
    assert!(failed.sleakops_deployment_id.is_some());
    // All the way to the deployment, which fails.
    let mut kinds = DEPLOYED;
    kinds[4] = EventKind::Failed;
    timeline_of(&app, &ada, created.id, &kinds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_wait_while_sleakops_is_down_and_complete_once_it_is_back() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let created = start_while_sleakops_is_down(&app, &sims, &ada, &fx).await;

    // The release waits, says so on its timeline, and the circuit opens.
    let started = Instant::now();
    loop {
        let status: OpsStatus = app.get("/api/status").await.json().await.expect("status");
        let sleakops = status
            .services
            .iter()
            .find(|s| s.name == "sleakops")
            .expect("listed");
        let waiting = app.timeline(&ada, created.id, "").await.iter().any(|e| {
            e.kind == EventKind::Progress && e.message.starts_with("Waiting for SleakOps")
        });
        if waiting && sleakops.circuit == faro_types::CircuitState::Open {
            assert!(
                status
                    .notices
                    .iter()
                    .any(|n| n.message.contains("SleakOps is not answering"))
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never waited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        release(&app.state.db, created.id).await.status,
        ReleaseStatus::Queued
    );
    let (_, _, attempts) = outbox(&app.state.db, created.id).await;
    assert!(attempts >= 1);

    sims.sleakops.control.clear_faults();
    wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 30).await;
    assert_eq!(
        outbox(&app.state.db, created.id).await.2,
        0,
        "attempts reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_fails_once_its_attempts_are_used_up() {
    let (app, sims, ada, fx) = setup(STEP, |app| app.set("FARO_WORKER_MAX_ATTEMPTS", "2")).await;
    let created = start_while_sleakops_is_down(&app, &sims, &ada, &fx).await;
    let failed = wait_for_failure(&app.state.db, created.id, 30, &["after 2 attempts"]).await;
    let reason = failed.failure_reason.expect("reason");
    assert!(
        reason.contains("(503)") || reason.contains("calls to it are paused"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_trigger_a_build_twice() {
    let (app, sims, ada, fx) = setup(Duration::from_millis(20), |app| {
        app.set("FARO_WORKER_CONCURRENCY", "3")
    })
    .await;
    let sibling = TestApp::builder()
        .sims(&sims)
        .set("FARO_WORKER_CONCURRENCY", "3")
        .spawn_beside(&app)
        .await;
    // Each task announces the events it wrote to its own hub: that tells whose worker
    // started which build.
    let mut heard = [
        app.state.release_events.subscribe(),
        sibling.state.release_events.subscribe(),
    ];
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(app.start_release(&ada, &fx, "staging").await.id);
    }
    for id in &ids {
        wait_for(&app.state.db, *id, ReleaseStatus::Deployed, 60).await;
    }
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 12);
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 12);
    let started: Vec<Vec<u64>> = heard
        .iter_mut()
        .map(|rx| {
            std::iter::from_fn(|| rx.try_recv().ok())
                .filter(|p| p.event.kind == EventKind::BuildStarted)
                .map(|p| p.release_id)
                .collect()
        })
        .collect();
    assert!(
        started.iter().all(|builds| !builds.is_empty()),
        "both tasks' workers took releases: {started:?}"
    );
    let mut all: Vec<u64> = started.concat();
    all.sort_unstable();
    assert_eq!(all, ids, "every build started once, by one of the two");
    for id in &ids {
        // One build started each.
        timeline_of(&app, &ada, *id, &DEPLOYED).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_release_is_resumed_by_another_task() {
    let (mut app, sims, ada, fx) = setup(Duration::from_millis(700), |app| app).await;
    let created = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Building, 20).await;
    app.kill().await;
    let (done, claimed_by, _) = outbox(&app.state.db, created.id).await;
    assert!(
        !done && claimed_by.is_some(),
        "the dead worker's claim stays until its lease lapses"
    );

    let sibling = TestApp::builder().sims(&sims).spawn_beside(&app).await;
    let deployed = wait_for(&sibling.state.db, created.id, ReleaseStatus::Deployed, 30).await;
    assert_eq!(
        sims.sleakops.control.requests(CREATE_BUILD),
        1,
        "resumed, not restarted"
    );
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 1);
    assert!(deployed.sleakops_build_id.is_some());
    timeline_of(&app, &ada, created.id, &DEPLOYED).await;
}

/// Shuts `app` down as SIGTERM would, which must end cleanly within `within`; then a task
/// without a worker beside it, to read what it left (the stopped app closed its pool).
async fn stop_and_look(app: &mut TestApp, sims: &Sims, within: Duration) -> faro_testkit::Sibling {
    let stopped = Instant::now();
    app.begin_shutdown()
        .await
        .expect("joined")
        .expect("clean stop");
    assert!(
        stopped.elapsed() < within,
        "stopped in {:?}",
        stopped.elapsed()
    );
    TestApp::builder()
        .sims(sims)
        .set("FARO_WORKER_ENABLED", "false")
        .spawn_beside(app)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_claimed_releases_back() {
    let (mut app, sims, ada, fx) = setup(Duration::from_millis(700), |app| app).await;
    let created = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Building, 20).await;
    let sibling = stop_and_look(&mut app, &sims, Duration::from_secs(5)).await;
    let (done, claimed_by, _) = outbox(&sibling.state.db, created.id).await;
    assert!(!done);
    assert_eq!(claimed_by, None, "handed back");
    let (due,): (bool,) = sqlx::query_as(
        "SELECT next_attempt_at <= UTC_TIMESTAMP(6) FROM outbox WHERE release_id = ?",
    )
    .bind(created.id)
    .fetch_one(&sibling.state.db)
    .await
    .expect("due");
    assert!(due, "due at once for another task");
    drop(sibling);

    let worker = TestApp::builder().sims(&sims).spawn_beside(&app).await;
    wait_for(&worker.state.db, created.id, ReleaseStatus::Deployed, 30).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1);
    let _ = ada;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_the_build_stops_the_worker_from_deploying() {
    // A lease that outlasts the test: the heartbeat never notices the cancel, so the job can
    // only end by seeing its build finish, the point at which it would deploy.
    let (app, sims, ada, fx) = setup(STEP, |app| app.set("FARO_WORKER_LEASE_MS", "600000")).await;
    // The build cannot finish before the cancel has landed, however slow the machine.
    sims.sleakops.control.hold();
    let created = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Building, 20).await;
    app.cancel_release(&ada, created.id).await;
    let (done, claimed_by, _) = outbox(&app.state.db, created.id).await;
    assert!(
        done && claimed_by.is_some(),
        "the cancel dropped the work, and the worker is still on it"
    );

    // The build finishes; the job sees it, finds the release cancelled and lets go of its
    // claim, which nothing else in this test would clear.
    sims.sleakops.control.resume();
    let released = async || outbox(&app.state.db, created.id).await.1.is_none();
    let what = "the job never ended after the build finished";
    wait_until(Duration::from_secs(30), what, released).await;

    let after = release(&app.state.db, created.id).await;
    assert_eq!(after.status, ReleaseStatus::Cancelled);
    assert_eq!(after.sleakops_deployment_id, None);
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 0);
    let kinds = [
        EventKind::Requested,
        EventKind::BuildStarted,
        EventKind::Cancelled,
    ];
    timeline_of(&app, &ada, created.id, &kinds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_with_an_unknown_outcome_is_never_repeated() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    sims.sleakops
        .control
        .set_faults(Faults::drop_connections().on("POST", "cli-build"));
    let created = app.start_release(&ada, &fx, "staging").await;
    let says = [
        "may or may not have started the build",
        "retry this release",
    ];
    wait_for_failure(&app.state.db, created.id, 20, &says).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_trigger_was_interrupted_is_reconciled_not_repeated() {
    // A task died after marking the build as requested, before it learnt the outcome.
    let (app, sims, ada, fx) = setup(STEP, |app| app.set("FARO_WORKER_ENABLED", "false")).await;
    let created = app.start_release(&ada, &fx, "staging").await;
    sqlx::query("UPDATE releases SET build_requested_at = UTC_TIMESTAMP(6) WHERE id = ?")
        .bind(created.id)
        .execute(&app.state.db)
        .await
        .expect("mark");
    let _worker = TestApp::builder().sims(&sims).spawn_beside(&app).await;
    let says = ["unknown whether the build started"];
    wait_for_failure(&app.state.db, created.id, 20, &says).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_what_the_app_runs_against() {
    let (app, _sims, _ada, _fx) = setup(STEP, |app| app).await;
    let status: OpsStatus = app.get("/api/status").await.json().await.expect("status");
    assert!(status.simulated);
    assert!(status.worker.enabled && status.worker.running);
    for service in &status.services {
        assert_eq!(
            service.mode,
            faro_types::ServiceMode::Simulated,
            "{service:?}"
        );
        assert_eq!(service.circuit, faro_types::CircuitState::Closed);
    }
    assert!(
        status
            .notices
            .iter()
            .any(|n| n.message.contains("simulated DeepSeek and SleakOps")),
        "{:?}",
        status.notices
    );

    // An app without DeepSeek's key and without a worker (the test kit still verifies
    // organizations' SleakOps keys against a simulator of its own).
    let plain = TestApp::spawn().await;
    let status: OpsStatus = plain.get("/api/status").await.json().await.expect("status");
    assert!(!status.worker.running);
    let modes: Vec<(&str, faro_types::ServiceMode)> = status
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.mode))
        .collect();
    assert_eq!(
        modes,
        [
            ("deepseek", faro_types::ServiceMode::NotConfigured),
            ("sleakops", faro_types::ServiceMode::Simulated)
        ]
    );
    let notices: Vec<&str> = status.notices.iter().map(|n| n.message.as_str()).collect();
    assert!(
        notices.iter().any(|n| n.contains("release worker is off")),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("DeepSeek is not configured")),
        "{notices:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sleakops_failures_and_the_outbox_lag() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let created = start_while_sleakops_is_down(&app, &sims, &ada, &fx).await;
    let retried = async || outbox(&app.state.db, created.id).await.2 > 0;
    wait_until(Duration::from_secs(20), "never retried", retried).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let snapshot = faro_backend::worker::metrics::snapshot(&app.state).await;
    assert!(snapshot.external_errors >= 1, "{snapshot:?}");
    assert!(
        snapshot.outbox_lag >= Duration::from_secs(1),
        "{snapshot:?}"
    );
    let again = faro_backend::worker::metrics::snapshot(&app.state).await;
    assert!(
        again.external_errors <= 1,
        "counters restart after each line: {again:?}"
    );

    sims.sleakops.control.clear_faults();
    wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 30).await;
    let snapshot = faro_backend::worker::metrics::snapshot(&app.state).await;
    assert_eq!(snapshot.outbox_lag, Duration::ZERO);
    assert!(!snapshot.circuit_open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_organizations_failing_key_never_holds_up_another_organizations_releases() {
    let sims = Sims::start(STEP).await;
    let app = TestApp::builder()
        .sims(&sims)
        .set("FARO_SLEAKOPS_BREAKER_FAILURES", "2")
        .set("FARO_SLEAKOPS_BREAKER_COOL_DOWN_MS", "60000")
        .spawn()
        .await;
    // Each organization deploys with a SleakOps account of its own.
    let account = || {
        let projects = faro_sim::Projects::new().with("shop", ["staging-env", "production-env"]);
        sims.sleakops.control.create_account(projects)
    };
    let mut with_own_key = Vec::new();
    for name in ["Ada", "Bob"] {
        let who = app.signup(name).await;
        let key = account();
        let org = app.own_org(&who).await.slug;
        assert_eq!(app.put_sleakops_key(&who, &org, &key).await.status(), 200);
        let fx = app.project_with_environments(&who).await;
        with_own_key.push((who, key, fx));
    }
    let [(ada, ada_key, ada_fx), (bob, bob_key, bob_fx)] =
        <[_; 2]>::try_from(with_own_key).expect("two");

    // SleakOps fails every call made with Ada's key until her client's breaker opens.
    sims.sleakops
        .control
        .set_faults(Faults::status(503).for_key(&ada_key));
    let stuck = app.start_release(&ada, &ada_fx, "staging").await;
    let ada_client = app
        .state
        .external
        .sleakops
        .for_key(&faro_resilience::Secret::new(ada_key.clone()));
    let opened = async || ada_client.circuit().is_open();
    wait_until(
        Duration::from_secs(10),
        "Ada's breaker never opened",
        opened,
    )
    .await;

    // Bob's release goes through meanwhile, and the status page does not call SleakOps down.
    let fine = app.start_release(&bob, &bob_fx, "staging").await;
    wait_for(&app.state.db, fine.id, ReleaseStatus::Deployed, 20).await;
    assert!(sims.sleakops.control.requests_by_key(&bob_key) > 0);
    let status: OpsStatus = app.get("/api/status").await.json().await.expect("status");
    let sleakops = status
        .services
        .iter()
        .find(|s| s.name == "sleakops")
        .expect("sleakops");
    assert_ne!(
        sleakops.circuit,
        faro_types::CircuitState::Open,
        "{status:?}"
    );
    assert_eq!(
        release(&app.state.db, stuck.id).await.status,
        ReleaseStatus::Queued
    );
}

/// Has SleakOps start the next build at once and answer `late`, starts a release to staging,
/// and waits until that build was asked for (the `nth` build of the test).
async fn start_answered_late(
    app: &TestApp,
    sims: &Sims,
    who: &Signed,
    fx: &ProjectWithEnvironments,
    late: Duration,
    nth: u64,
) -> Release {
    let control = &sims.sleakops.control;
    control.set_faults(Faults::answer_delay(late).on("POST", "cli-build").times(1));
    let created = app.start_release(who, fx, "staging").await;
    let asked = async || control.requests(CREATE_BUILD) == nth;
    wait_until(
        Duration::from_secs(20),
        "the build was never asked for",
        asked,
    )
    .await;
    created
}

/// Waits until `sql`, one boolean about release `id` with a time `since` bound before it,
/// holds; `what` says what never happened otherwise.
async fn wait_since(
    db: &MySqlPool,
    sql: &str,
    since: chrono::DateTime<chrono::Utc>,
    id: u64,
    what: &str,
) {
    let holds = async || {
        let (holds,): (bool,) = sqlx::query_as(sql)
            .bind(since)
            .bind(id)
            .fetch_one(db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        holds
    };
    wait_until(Duration::from_secs(20), what, holds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_outage_right_after_a_trigger_keeps_the_build_id_and_the_release_goes_on() {
    // Declared first so that it outlives the app, whose table is dropped through it.
    let dynamodb = CutProxy::start(&faro_testkit::app::services().dynamodb).await;
    // A long retry delay: the release rests handed back long enough to be seen.
    let (app, sims, ada, fx) = setup(STEP, |app| {
        app.dynamodb_through(&dynamodb)
            .set("FARO_WORKER_RETRY_BASE_MS", "1000")
    })
    .await;
    let late = Duration::from_millis(1500);
    let created = start_answered_late(&app, &sims, &ada, &fx, late, 1).await;
    // SleakOps has started the build; DynamoDB fails before its answer arrives.
    dynamodb.cut();
    let answered = chrono::Utc::now() + chrono::Duration::from_std(late).expect("delay");
    // The answer came, the timeline could not be written, and the job handed the row back.
    let handed_back =
        "SELECT claimed_by IS NULL AND updated_at > ? FROM outbox WHERE release_id = ?";
    let what = "the job never gave up on the write after the answer";
    wait_since(&app.state.db, handed_back, answered, created.id, what).await;
    assert_eq!(
        release(&app.state.db, created.id).await.status,
        ReleaseStatus::Queued,
        "the start could not be recorded while DynamoDB was out"
    );

    dynamodb.restore();
    let deployed = wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 30).await;
    assert!(deployed.sleakops_build_id.is_some());
    assert_eq!(
        sims.sleakops.control.requests(CREATE_BUILD),
        1,
        "built once"
    );
    timeline_of(&app, &ada, created.id, &DEPLOYED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_claim_while_marking_clears_its_mark_and_sends_nothing() {
    let (app, sims, ada, fx) = setup(STEP, |app| app.set("FARO_WORKER_ENABLED", "false")).await;
    let created = app.start_release(&ada, &fx, "staging").await;
    let (before,): (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT updated_at FROM releases WHERE id = ?")
            .bind(created.id)
            .fetch_one(&app.state.db)
            .await
            .expect("release");
    // The release row held, so the worker's mark waits until the test lets it.
    let mut lock = app.state.db.begin().await.expect("begin");
    sqlx::query("SELECT id FROM releases WHERE id = ? FOR UPDATE")
        .bind(created.id)
        .execute(&mut *lock)
        .await
        .expect("lock");
    // A lease that outlasts the test: only the job's own check can learn of the loss.
    let _worker = TestApp::builder()
        .sims(&sims)
        .set("FARO_WORKER_LEASE_MS", "600000")
        .spawn_beside(&app)
        .await;
    let claimed = async || outbox(&app.state.db, created.id).await.1.is_some();
    wait_until(Duration::from_secs(20), "never claimed", claimed).await;
    // Another task takes the release over (as after a lapsed lease) before the mark lands.
    sqlx::query(
        "UPDATE outbox SET claimed_by = 'another-task/0', \
         next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR WHERE release_id = ?",
    )
    .bind(created.id)
    .execute(&app.state.db)
    .await
    .expect("take over");
    lock.commit().await.expect("let the mark land");

    let cleared = "SELECT updated_at > ? AND build_requested_at IS NULL FROM releases WHERE id = ?";
    let what = "the mark was never cleared by the worker that lost its claim";
    wait_since(&app.state.db, cleared, before, created.id, what).await;
    assert_eq!(
        sims.sleakops.control.requests(CREATE_BUILD),
        0,
        "nothing sent"
    );

    // The other task lets go; the release is triggered once, not failed as unknown.
    sqlx::query(
        "UPDATE outbox SET claimed_by = NULL, next_attempt_at = UTC_TIMESTAMP(6) \
         WHERE release_id = ?",
    )
    .bind(created.id)
    .execute(&app.state.db)
    .await
    .expect("hand back");
    wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 30).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1);
    timeline_of(&app, &ada, created.id, &DEPLOYED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_never_finishes_needs_a_person_and_frees_its_slot() {
    let (app, sims, ada, fx) = setup(STEP, |app| {
        app.set("FARO_WORKER_CONCURRENCY", "1")
            .set("FARO_WORKER_FOLLOW_DEADLINE_SECS", "2")
    })
    .await;
    // No build ends while held: this one runs for ever, as a stuck SleakOps build would.
    sims.sleakops.control.hold();
    let stuck = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, stuck.id, ReleaseStatus::NeedsAttention, 30).await;

    let shown = app.release(&ada, stuck.id).await;
    assert_eq!(shown.status, ReleaseStatus::NeedsAttention);
    assert!(shown.finished_at.is_some());
    let build = shown.sleakops_build_id.clone().expect("the build to check");
    let reason = shown.failure_reason.clone().expect("what to check");
    for says in [
        format!("Build {build} has not finished on SleakOps 2 s after it was started"),
        format!("check build {build} of project"),
    ] {
        assert!(reason.contains(&says), "{reason:?} says {says:?}");
    }
    let kinds = [
        EventKind::Requested,
        EventKind::BuildStarted,
        EventKind::NeedsAttention,
    ];
    let events = timeline_of(&app, &ada, stuck.id, &kinds).await;
    let last = events.last().expect("last");
    assert_eq!(
        (last.status, last.message.as_str()),
        (ReleaseStatus::NeedsAttention, reason.as_str())
    );
    let (done, claimed_by, _) = outbox(&app.state.db, stuck.id).await;
    assert!(done && claimed_by.is_none(), "its slot is free");

    // The one slot takes the next release.
    sims.sleakops.control.resume();
    let next = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, next.id, ReleaseStatus::Deployed, 30).await;
    assert_eq!(
        release(&app.state.db, stuck.id).await.status,
        ReleaseStatus::NeedsAttention,
        "left for a person"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_trigger_in_flight_finish_and_hands_the_rest_back() {
    // The worker's jobs get drain + grace (4 s); the grace alone (2 s) would cut the
    // trigger below off before its answer (3 s).
    let (mut app, sims, ada, fx) = setup(Duration::from_millis(700), |app| {
        app.set("FARO_SHUTDOWN_DRAIN_SECS", "2")
            .set("FARO_SHUTDOWN_GRACE_SECS", "2")
            .set("FARO_SLEAKOPS_TIMEOUT_MS", "10000")
    })
    .await;
    // One release being followed: its build does not end while held.
    sims.sleakops.control.hold();
    let following = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, following.id, ReleaseStatus::Building, 20).await;
    // Another whose build SleakOps starts at once and answers late.
    let late = Duration::from_secs(3);
    let in_flight = start_answered_late(&app, &sims, &ada, &fx, late, 2).await;

    let reader = stop_and_look(&mut app, &sims, Duration::from_secs(10)).await;
    let saved = release(&reader.state.db, in_flight.id).await;
    assert!(saved.sleakops_build_id.is_some(), "the answer was saved");
    for id in [following.id, in_flight.id] {
        let (done, claimed_by, _) = outbox(&reader.state.db, id).await;
        assert!(!done && claimed_by.is_none(), "release {id} handed back");
        assert_eq!(
            release(&reader.state.db, id).await.status,
            ReleaseStatus::Building,
            "release {id} is not failed"
        );
    }
    drop(reader);

    sims.sleakops.control.resume();
    let worker = TestApp::builder().sims(&sims).spawn_beside(&app).await;
    for id in [following.id, in_flight.id] {
        wait_for(&worker.state.db, id, ReleaseStatus::Deployed, 30).await;
    }
    assert_eq!(
        sims.sleakops.control.requests(CREATE_BUILD),
        2,
        "each built once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_a_running_deployment_says_the_deployment_continues_on_sleakops() {
    let (app, sims, ada, fx) = setup(Duration::from_millis(700), |app| app).await;
    let created = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Deploying, 20).await;
    // The deployment cannot end before the cancel lands.
    sims.sleakops.control.hold();
    let cancelled = app.cancel_release(&ada, created.id).await;
    assert_eq!(cancelled.status, ReleaseStatus::Cancelled);
    let deployment = cancelled.sleakops_deployment_id.expect("deployment id");
    let kinds = [
        EventKind::Requested,
        EventKind::BuildStarted,
        EventKind::BuildSucceeded,
        EventKind::DeploymentStarted,
        EventKind::Cancelled,
    ];
    let events = timeline_of(&app, &ada, created.id, &kinds).await;
    let said = &events.last().expect("last").message;
    for says in [
        "cancelled the release, but the deployment continues on SleakOps".to_owned(),
        format!("deployment {deployment} was already running"),
    ] {
        assert!(said.contains(&says), "{said:?} says {says:?}");
    }
}
