//! Promotion and rollback: a new release that deploys a build SleakOps already made, to
//! another environment of the project (promotion) or again to the same one (rollback),
//! without building; the worker against the SleakOps simulator, real MariaDB and DynamoDB
//! Local. Multi-threaded runtimes for the reason `worker.rs` gives.

use super::worker::{setup, wait_for};
use faro_sim::sleakops::{CREATE_BUILD, CREATE_DEPLOYMENT};
use faro_testkit::{
    ProjectWithEnvironments, Signed, Sims, TestApp, expect_json, fixtures::new_key, problem,
    problem_naming,
};
use faro_types::{EventKind, Release, ReleaseStatus, Role};
use serde_json::{Value, json};
use std::time::Duration;

const STEP: Duration = Duration::from_millis(60);

/// A release of `main` by `who` to `environment`, once deployed.
async fn deployed(
    app: &TestApp,
    who: &Signed,
    fx: &ProjectWithEnvironments,
    environment: &str,
) -> Release {
    let created = app.start_release(who, fx, environment).await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Deployed, 20).await
}

/// A release by `who` to staging whose build fails, once failed.
async fn failed(app: &TestApp, who: &Signed, fx: &ProjectWithEnvironments) -> Release {
    let body = json!({"environment": "staging", "branch": "fail-build"});
    let created = app.create_release(who, &fx.slug, &body).await;
    wait_for(&app.state.db, created.id, ReleaseStatus::Failed, 20).await
}

/// `who` promotes release `id` to `environment` under a fresh key, which must be 201.
async fn promote(app: &TestApp, who: &Signed, id: u64, environment: &str) -> Release {
    let response = app.post_promote(who, id, environment, &new_key()).await;
    expect_json(response, 201, &format!("promote {id} to {environment}")).await
}

/// `who` rolls `environment` back with `body` under a fresh key, which must be 201.
async fn roll_back(
    app: &TestApp,
    who: &Signed,
    fx: &ProjectWithEnvironments,
    environment: &str,
    body: Option<&Value>,
) -> Release {
    let response = app
        .post_rollback(who, &fx.slug, environment, &new_key(), body)
        .await;
    expect_json(response, 201, &format!("roll {environment} back")).await
}

/// The kinds of release `id`'s timeline.
async fn kinds(app: &TestApp, who: &Signed, id: u64) -> Vec<EventKind> {
    let events = app.timeline(who, id, "").await;
    events.iter().map(|e| e.kind).collect()
}

/// Asserts that a release made from a build reached deployed without building anything.
fn deploys_without_building(kinds: &[EventKind]) {
    assert!(
        !kinds.contains(&EventKind::BuildStarted),
        "no build: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&EventKind::Deployed), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_deploys_the_staging_build_to_production_without_building() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let source = deployed(&app, &ada, &fx, "staging").await;
    let build = source.sleakops_build_id.clone().expect("a build");

    let promoted = promote(&app, &ada, source.id, "production").await;
    assert_eq!(promoted.promoted_from, Some(source.id));
    assert_eq!(promoted.build_of, Some(source.id));
    assert_eq!(promoted.environment, "production");
    let done = wait_for(&app.state.db, promoted.id, ReleaseStatus::Deployed, 20).await;
    assert_eq!(done.sleakops_build_id.as_deref(), Some(build.as_str()));
    assert_eq!(done.commit_sha, source.commit_sha);
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1, "one build");
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 2);
    deploys_without_building(&kinds(&app, &ada, promoted.id).await);

    let source = app.release(&ada, source.id).await;
    assert_eq!(source.promoted_to, [promoted.id]);
    let events = app.timeline(&ada, source.id, "").await;
    let told = events
        .iter()
        .find(|e| e.kind == EventKind::Promoted)
        .expect("a promoted event");
    assert_eq!(
        told.message,
        format!(
            "Ada promoted this build to production as release #{}",
            promoted.id
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_is_only_from_a_deployed_release_and_to_another_environment() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let viewer = app.signup("Vera").await;
    app.add_member(&ada, &fx.slug, &viewer, Role::Viewer).await;
    let source = deployed(&app, &ada, &fx, "staging").await;
    let failed = failed(&app, &ada, &fx).await;
    // SleakOps down: the worker cannot start the build, so the release stays queued.
    sims.sleakops
        .control
        .set_faults(faro_sim::Faults::status(503));
    let queued = app.start_release(&ada, &fx, "staging").await;

    for (release, status) in [(&queued, "queued"), (&failed, "failed")] {
        let response = app
            .post_promote(&ada, release.id, "production", &new_key())
            .await;
        let refused = problem_naming(response, 409, "status", status).await;
        let detail = refused.detail.expect("a detail");
        assert!(detail.contains(&format!("is {status}")), "{detail}");
    }
    let own = app
        .post_promote(&ada, source.id, "staging", &new_key())
        .await;
    problem_naming(own, 422, "environment", "its own environment").await;
    let unknown = app
        .post_promote(&ada, source.id, "nowhere", &new_key())
        .await;
    problem_naming(unknown, 409, "environment", "an unknown environment").await;
    let viewer_asks = app
        .post_promote(&viewer, source.id, "production", &new_key())
        .await;
    problem(viewer_asks, 403).await;
    assert_eq!(
        app.release(&ada, source.id).await.promoted_to,
        Vec::<u64>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_promotion_with_the_same_key_answers_the_same_release() {
    let (app, _sims, ada, fx) = setup(STEP, |app| app).await;
    let source = deployed(&app, &ada, &fx, "staging").await;
    let key = new_key();
    let first = app.post_promote(&ada, source.id, "production", &key).await;
    let first: Release = expect_json(first, 201, "the first promotion").await;
    let again = app.post_promote(&ada, source.id, "production", &key).await;
    let again: Release = expect_json(again, 200, "the repeat").await;
    assert_eq!(again.id, first.id);
    assert_eq!(app.release(&ada, source.id).await.promoted_to, [first.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_to_an_environment_requiring_approval_waits_for_a_second_owner() {
    let sims = Sims::start(STEP).await;
    let app = TestApp::builder().sims(&sims).spawn().await;
    let ada = app.signup("Ada").await;
    let fx = app.project_requiring_approval(&ada).await;
    let bob = app.signup("Bob").await;
    app.add_member(&ada, &fx.slug, &bob, Role::Owner).await;
    let source = deployed(&app, &ada, &fx, "staging").await;

    let waiting = promote(&app, &ada, source.id, "production").await;
    assert_eq!(waiting.status, ReleaseStatus::AwaitingApproval);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 1);
    assert_eq!(
        app.release(&ada, waiting.id).await.status,
        ReleaseStatus::AwaitingApproval
    );

    app.approve_release(&bob, waiting.id).await;
    let done = wait_for(&app.state.db, waiting.id, ReleaseStatus::Deployed, 20).await;
    assert_eq!(done.sleakops_build_id, source.sleakops_build_id);
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1, "one build");
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 2);
    deploys_without_building(&kinds(&app, &ada, waiting.id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_deploys_the_previous_deployed_build_without_building() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let earlier = deployed(&app, &ada, &fx, "staging").await;
    let running = deployed(&app, &ada, &fx, "staging").await;
    assert_ne!(earlier.sleakops_build_id, running.sleakops_build_id);

    let rollback = roll_back(&app, &ada, &fx, "staging", None).await;
    assert_eq!(rollback.rollback_of, Some(running.id));
    assert_eq!(rollback.build_of, Some(earlier.id));
    let done = wait_for(&app.state.db, rollback.id, ReleaseStatus::Deployed, 20).await;
    assert_eq!(done.sleakops_build_id, earlier.sleakops_build_id);
    assert_eq!(
        sims.sleakops.control.requests(CREATE_BUILD),
        2,
        "no third build"
    );
    deploys_without_building(&kinds(&app, &ada, rollback.id).await);

    let events = app.timeline(&ada, running.id, "").await;
    let told = events
        .iter()
        .find(|e| e.kind == EventKind::RolledBack)
        .expect("a rolled_back event");
    assert!(
        told.message
            .ends_with(&format!("as release #{}", rollback.id)),
        "{}",
        told.message
    );
    let staging = app.environment(&ada, &fx.slug, "staging").await;
    let now = staging.running.expect("something runs");
    assert_eq!(now.release_id, rollback.id);
    assert_eq!(now.sleakops_build_id, earlier.sleakops_build_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_a_chosen_release_and_its_refusals() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    let nothing = app
        .post_rollback(&ada, &fx.slug, "staging", &new_key(), None)
        .await;
    problem(nothing, 409).await;
    // A JSON null says as little as no body: the same 409, not a 422 about the body.
    let null = app
        .post_rollback(&ada, &fx.slug, "staging", &new_key(), Some(&Value::Null))
        .await;
    problem(null, 409).await;
    let first = deployed(&app, &ada, &fx, "staging").await;
    let only_one = app
        .post_rollback(&ada, &fx.slug, "staging", &new_key(), None)
        .await;
    problem(only_one, 409).await;
    let failed = failed(&app, &ada, &fx).await;
    let elsewhere = deployed(&app, &ada, &fx, "production").await;
    let running = deployed(&app, &ada, &fx, "staging").await;

    for (to, case) in [
        (elsewhere.id, "a release of another environment"),
        (failed.id, "a release not deployed"),
        (running.id, "the release running"),
        (u64::from(u32::MAX), "no release"),
    ] {
        let body = json!({ "to": to });
        let response = app
            .post_rollback(&ada, &fx.slug, "staging", &new_key(), Some(&body))
            .await;
        problem_naming(response, 422, "to", case).await;
    }
    let unknown = json!({ "to": first.id, "reason": "oops" });
    let response = app
        .post_rollback(&ada, &fx.slug, "staging", &new_key(), Some(&unknown))
        .await;
    problem(response, 422).await;
    let builds = sims.sleakops.control.requests(CREATE_BUILD);

    let chosen = json!({ "to": first.id });
    let rollback = roll_back(&app, &ada, &fx, "staging", Some(&chosen)).await;
    assert_eq!(
        (rollback.rollback_of, rollback.build_of),
        (Some(running.id), Some(first.id))
    );
    let done = wait_for(&app.state.db, rollback.id, ReleaseStatus::Deployed, 20).await;
    assert_eq!(done.sleakops_build_id, first.sleakops_build_id);
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), builds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_promotion_is_retried_without_building() {
    let (app, sims, ada, fx) = setup(STEP, |app| app).await;
    // Known to SleakOps by its own name; the simulator fails every deployment there.
    let body = json!({"name": "qa-fail-deploy", "sleakops_environment": "qa-fail-deploy"});
    let response = app.post_environment(&ada, &fx.slug, &body).await;
    assert_eq!(response.status(), 201);
    let source = deployed(&app, &ada, &fx, "staging").await;
    let promoted = promote(&app, &ada, source.id, "qa-fail-deploy").await;
    wait_for(&app.state.db, promoted.id, ReleaseStatus::Failed, 20).await;

    let response = app.post_retry(&ada, promoted.id, Some(&new_key())).await;
    let retry: Release = expect_json(response, 201, "retry the promotion").await;
    assert_eq!(retry.retry_of, Some(promoted.id));
    assert_eq!(retry.build_of, Some(source.id));
    let again = wait_for(&app.state.db, retry.id, ReleaseStatus::Failed, 20).await;
    assert_eq!(again.sleakops_build_id, source.sleakops_build_id);
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1, "one build");
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 3);
}
