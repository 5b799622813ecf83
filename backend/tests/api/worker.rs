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
    ProjectWithEnvironments, Signed, Sims, TestApp, app::Builder, fixtures::release_body,
};
use faro_types::{EventKind, OpsStatus, Release, ReleaseStatus, TimelineEvent};
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
    let created = app.start_release(&ada, &fx, "production").await;
    let done = wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 20).await;
    assert!(done.sleakops_build_id.is_some());
    assert!(done.sleakops_deployment_id.is_some());
    assert!(done.started_at.is_some() && done.deployed_at.is_some());
    assert_eq!(done.finished_at, done.deployed_at);
    assert_eq!(done.failure_reason, None);

    let events = timeline_of(&app, &ada, created.id, &DEPLOYED).await;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    let status_of = |kind| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.status)
            .expect("event")
    };
    assert_eq!(status_of(EventKind::BuildStarted), ReleaseStatus::Building);
    assert_eq!(
        status_of(EventKind::DeploymentStarted),
        ReleaseStatus::Deploying
    );
    assert_eq!(status_of(EventKind::Deployed), ReleaseStatus::Deployed);
    let build = done.sleakops_build_id.as_deref().expect("build");
    assert!(
        events[1]
            .message
            .contains(&format!("Build {build} started")),
        "{}",
        events[1].message
    );

    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1);
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 1);
    let (done_row, claimed_by, _) = outbox(&app.state.db, created.id).await;
    assert!(done_row);
    assert_eq!(claimed_by, None);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_claimed_releases_back() {
    let (mut app, sims, ada, fx) = setup(Duration::from_millis(700), |app| app).await;
    let created = app.start_release(&ada, &fx, "staging").await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Building, 20).await;
    let stopped = Instant::now();
    app.begin_shutdown()
        .await
        .expect("joined")
        .expect("clean stop");
    assert!(stopped.elapsed() < Duration::from_secs(5));

    let sibling = TestApp::builder()
        .sims(&sims)
        .set("FARO_WORKER_ENABLED", "false")
        .spawn_beside(&app)
        .await;
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
        notices.iter().any(|n| n.contains("DeepSeek is not configured")),
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
    wait_until(Duration::from_secs(10), "Ada's breaker never opened", opened).await;

    // Bob's release goes through meanwhile, and the status page does not call SleakOps down.
    let fine = app.start_release(&bob, &bob_fx, "staging").await;
    wait_for(&app.state.db, fine.id, ReleaseStatus::Deployed, 20).await;
    assert!(sims.sleakops.control.requests_by_key(&bob_key) > 0);
    let status: OpsStatus = app.get("/api/status").await.json().await.expect("status");
    let sleakops = status.services.iter().find(|s| s.name == "sleakops").expect("sleakops");
    assert_ne!(sleakops.circuit, faro_types::CircuitState::Open, "{status:?}");
    assert_eq!(release(&app.state.db, stuck.id).await.status, ReleaseStatus::Queued);
}
