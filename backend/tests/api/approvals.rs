//! Approvals, the two-person rule: a release to an environment that requires approval waits
//! until a project owner or an organization owner or admin other than its requester
//! approves or rejects it, or until it expires; the worker triggers nothing for it meanwhile.

use faro_sim::sleakops::{CREATE_BUILD, CREATE_DEPLOYMENT};
use faro_testkit::{
    ProjectWithEnvironments, Signed, Sims, Team, TestApp, app::Builder, expect_json, problem,
    problem_naming,
};
use faro_types::{EventKind, OrgRole, Release, ReleaseStatus};
use sqlx::MySqlPool;
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_millis(60);

/// A team whose project's production environment requires approval; `adjust` configures
/// the app, `sims` starts the worker against the simulators.
async fn team_app(
    sims: Option<&Sims>,
    adjust: impl FnOnce(Builder) -> Builder,
) -> (TestApp, Team, ProjectWithEnvironments) {
    let mut builder = TestApp::builder();
    if let Some(sims) = sims {
        builder = builder.sims(sims);
    }
    let app = adjust(builder).spawn().await;
    let team = Team::new(&app).await;
    let fx = team.project_with_environments(&app).await;
    let patch = serde_json::json!({"requires_approval": true});
    app.update_environment(&team.owner, &fx.slug, "production", &patch)
        .await;
    (app, team, fx)
}

/// An organization admin of the team's organization (the effective role owner in every
/// project of it).
async fn org_admin(app: &TestApp, team: &Team) -> Signed {
    app.join_org(&team.owner, "Admin", OrgRole::Admin).await
}

/// Waits (at most 20 s) until release `id` is `status`.
async fn wait_for(db: &MySqlPool, id: u64, status: ReleaseStatus) -> Release {
    let started = Instant::now();
    loop {
        let (_, release) = faro_backend::releases::store::find(db, id)
            .await
            .expect("read")
            .expect("exists");
        if release.status == status {
            return release;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "release {id} still {:?}, not {status:?}",
            release.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (done, next_attempt_at) of release `id`'s outbox row.
async fn outbox(db: &MySqlPool, id: u64) -> (bool, chrono::DateTime<chrono::Utc>) {
    sqlx::query_as("SELECT done, next_attempt_at FROM outbox WHERE release_id = ?")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("outbox row")
}

fn kinds(events: &[faro_types::TimelineEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainers_production_release_waits_for_approval_and_nothing_is_built() {
    let sims = Sims::start(STEP).await;
    let (app, team, fx) = team_app(Some(&sims), |app| app).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    assert_eq!(waiting.status, ReleaseStatus::AwaitingApproval);
    let approval = waiting.approval.as_ref().expect("an approval");
    assert_eq!(
        approval.expires_at - waiting.requested_at,
        chrono::Duration::hours(24)
    );
    assert_eq!(approval.decision, None);

    let events = app.timeline(&team.owner, waiting.id, "").await;
    assert_eq!(
        kinds(&events),
        [EventKind::Requested, EventKind::ApprovalRequested]
    );
    assert!(
        events
            .iter()
            .all(|e| e.status == ReleaseStatus::AwaitingApproval),
        "{events:?}"
    );
    assert!(
        events[1].message.starts_with(
            "Waiting for approval by a project owner or an organization owner or admin other \
             than Maintainer until "
        ),
        "{}",
        events[1].message
    );
    // The worker polls meanwhile; the row is due only when the approval expires.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 0);
    let (done, due) = outbox(&app.state.db, waiting.id).await;
    assert!(!done);
    assert_eq!(due, approval.expires_at);
    assert_eq!(
        app.release(&team.owner, waiting.id).await.status,
        ReleaseStatus::AwaitingApproval
    );
}

#[tokio::test]
async fn the_requester_cannot_approve_or_reject_even_as_an_owner() {
    let (app, team, fx) = team_app(None, |app| app).await;
    let waiting = app.start_release(&team.owner, &fx, "production").await;
    assert_eq!(waiting.status, ReleaseStatus::AwaitingApproval);
    let said = "You requested this release; approval must come from someone else: another \
                project owner or an organization owner or admin.";
    let refused = problem(app.post_approve(&team.owner, waiting.id).await, 403).await;
    assert_eq!(refused.detail.as_deref(), Some(said));
    let refused = app.post_reject(&team.owner, waiting.id, "no").await;
    assert_eq!(problem(refused, 403).await.detail.as_deref(), Some(said));
    assert_eq!(
        app.release(&team.owner, waiting.id).await.status,
        ReleaseStatus::AwaitingApproval
    );
}

#[tokio::test]
async fn only_an_owner_decides_and_a_stranger_does_not_see_the_release() {
    let (app, team, fx) = team_app(None, |app| app).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    for who in [&team.maintainer, &team.viewer] {
        let refused = problem(app.post_approve(who, waiting.id).await, 403).await;
        let detail = refused.detail.expect("a detail");
        assert!(
            detail.starts_with(
                "Only a project owner or an organization owner or admin may approve a release"
            ),
            "{detail}"
        );
        problem(app.post_reject(who, waiting.id, "no").await, 403).await;
    }
    problem(app.post_approve(&team.outsider, waiting.id).await, 404).await;
    problem(app.post_reject(&team.outsider, waiting.id, "no").await, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_admins_approval_builds_and_deploys_the_release() {
    let sims = Sims::start(STEP).await;
    let (app, team, fx) = team_app(Some(&sims), |app| app).await;
    let admin = org_admin(&app, &team).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    let approved = app.approve_release(&admin, waiting.id).await;
    assert_eq!(approved.status, ReleaseStatus::Queued);
    let decision = approved
        .approval
        .and_then(|a| a.decision)
        .expect("a decision");
    assert!(decision.approved);
    assert_eq!(decision.by.id, admin.user.id);
    assert_eq!(decision.reason, None);

    let deployed = wait_for(&app.state.db, waiting.id, ReleaseStatus::Deployed).await;
    assert!(deployed.sleakops_deployment_id.is_some());
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 1);
    assert_eq!(sims.sleakops.control.requests(CREATE_DEPLOYMENT), 1);
    let events = app.timeline(&team.owner, waiting.id, "").await;
    let approval = events
        .iter()
        .find(|e| e.kind == EventKind::Approved)
        .expect("approved");
    assert_eq!(approval.message, "Admin approved the release");
    assert_eq!(approval.actor.as_ref().map(|a| a.id), Some(admin.user.id));

    // Decided once: a second decision finds it no longer waiting.
    let again = app.post_approve(&admin, waiting.id).await;
    let again = problem_naming(again, 409, "status", "approve twice").await;
    assert!(
        again.detail.expect("detail").contains("is deployed"),
        "names the status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_ends_the_release_with_its_reason_and_nothing_is_built() {
    let sims = Sims::start(STEP).await;
    let (app, team, fx) = team_app(Some(&sims), |app| app).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    let blank = app.post_reject(&team.owner, waiting.id, "   ").await;
    problem_naming(blank, 422, "reason", "a blank reason").await;

    let response = app
        .post_reject(&team.owner, waiting.id, "Freeze until Monday")
        .await;
    let rejected: Release = expect_json(response, 200, "reject").await;
    assert_eq!(rejected.status, ReleaseStatus::Rejected);
    assert!(rejected.finished_at.is_some());
    let decision = rejected
        .approval
        .and_then(|a| a.decision)
        .expect("a decision");
    assert!(!decision.approved);
    assert_eq!(decision.reason.as_deref(), Some("Freeze until Monday"));

    let events = app.timeline(&team.maintainer, waiting.id, "").await;
    let last = events.last().expect("an event");
    assert_eq!(
        (last.kind, last.status, last.message.as_str()),
        (
            EventKind::Rejected,
            ReleaseStatus::Rejected,
            "Owner rejected the release: Freeze until Monday"
        )
    );
    assert!(outbox(&app.state.db, waiting.id).await.0, "outbox row done");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 0);
    let late = app.post_approve(&team.owner, waiting.id).await;
    problem_naming(late, 409, "status", "approve a rejected release").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_expires_and_nothing_is_built() {
    let sims = Sims::start(STEP).await;
    let (app, team, fx) =
        team_app(Some(&sims), |app| app.set("FARO_APPROVAL_EXPIRY_SECS", "1")).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    let expired = wait_for(&app.state.db, waiting.id, ReleaseStatus::Expired).await;
    assert!(expired.finished_at.is_some());
    assert_eq!(expired.approval.and_then(|a| a.decision), None);
    let events = app.timeline(&team.maintainer, waiting.id, "").await;
    assert_eq!(
        kinds(&events),
        [
            EventKind::Requested,
            EventKind::ApprovalRequested,
            EventKind::Expired
        ]
    );
    assert_eq!(
        events[2].message,
        "Nobody approved the release within 1 s; it expired. Request it again to deploy."
    );
    assert!(outbox(&app.state.db, waiting.id).await.0, "outbox row done");
    assert_eq!(sims.sleakops.control.requests(CREATE_BUILD), 0);
}

#[tokio::test]
async fn an_approval_after_the_expiry_is_refused_and_expires_the_release() {
    // No simulators, so no worker: the approval is the first to notice the expiry.
    let (app, team, fx) = team_app(None, |app| app.set("FARO_APPROVAL_EXPIRY_SECS", "1")).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = app.post_approve(&team.owner, waiting.id).await;
    let late = problem_naming(late, 409, "status", "approve after the expiry").await;
    assert!(
        late.detail.expect("detail").contains("it expired"),
        "says it expired"
    );
    let expired = app.release(&team.owner, waiting.id).await;
    assert_eq!(expired.status, ReleaseStatus::Expired);
    let events = app.timeline(&team.owner, waiting.id, "").await;
    assert_eq!(events.last().map(|e| e.kind), Some(EventKind::Expired));
    assert!(outbox(&app.state.db, waiting.id).await.0, "outbox row done");
}

#[tokio::test]
async fn its_requester_may_cancel_a_waiting_release() {
    let (app, team, fx) = team_app(None, |app| app).await;
    let waiting = app.start_release(&team.maintainer, &fx, "production").await;
    let cancelled = app.cancel_release(&team.maintainer, waiting.id).await;
    assert_eq!(cancelled.status, ReleaseStatus::Cancelled);
    assert!(outbox(&app.state.db, waiting.id).await.0, "outbox row done");
    let late = app.post_approve(&team.owner, waiting.id).await;
    problem_naming(late, 409, "status", "approve a cancelled release").await;
}

#[tokio::test]
async fn without_approval_production_stays_the_owners_and_nothing_waits() {
    let (app, team, fx) = team_app(None, |app| app).await;
    let patch = serde_json::json!({"requires_approval": false});
    app.update_environment(&team.owner, &fx.slug, "production", &patch)
        .await;
    let refused = app
        .post_release(
            &team.maintainer,
            &fx.slug,
            Some(&faro_testkit::fixtures::new_key()),
            &faro_testkit::fixtures::release_body("production"),
        )
        .await;
    problem(refused, 403).await;
    let queued = app.start_release(&team.owner, &fx, "production").await;
    assert_eq!(queued.status, ReleaseStatus::Queued);
    assert_eq!(queued.approval, None);
    let not_waiting = app.post_approve(&team.owner, queued.id).await;
    problem_naming(not_waiting, 409, "status", "approve a queued release").await;
}
