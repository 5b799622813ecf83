//! One claimed release, driven from its stored state to the end (or until it must wait).
//!
//! The stored state says what comes next, so any task can resume any release:
//!
//! | status | stored | next step |
//! |---|---|---|
//! | queued | nothing | mark `build_requested_at`, then `POST cli-build/` |
//! | queued | `build_requested_at` only | the build may have been started: fail, never re-send |
//! | building | build id, no `built_at` | poll the build |
//! | building | `built_at`, nothing more | mark `deployment_requested_at`, then `POST cli-deployment/` |
//! | building | `deployment_requested_at` only | the deployment may have been started: fail |
//! | deploying | deployment id | poll the deployment |
//!
//! Each mark is written (and committed) before its trigger and only if it was unset, so of
//! two workers that both believe they own a release at most one sends the trigger. A trigger
//! SleakOps certainly did not act on (refused with 429/503, no connection) clears its mark
//! again. Every change of the release is an `UPDATE … WHERE status = <expected>` in a
//! transaction that appends its timeline event as `releases::timeline` prescribes, so a
//! cancel that got there first is never overwritten.

use super::outbox::{self, Claim};
use crate::{
    AppState,
    config::WorkerConfig,
    db,
    releases::timeline::{self, NewEvent, TimelineError},
};
use chrono::{DateTime, Utc};
use faro_resilience::Backoff;
use faro_sleakops::{
    BuildRequest, DeploymentRequest, ProjectEnv, ResourceId, SleakOpsError, State,
};
use faro_types::{EventKind, ReleaseStatus};
use sqlx::{MySql, Transaction};
use std::time::Duration;
use tokio::sync::watch;

/// Longest failure reason stored (the column is TEXT; the UI shows a paragraph).
const MAX_REASON: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub(super) enum JobError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("timeline: {0}")]
    Timeline(#[from] TimelineError),
}

/// How a job ended.
#[derive(Debug)]
enum End {
    /// The release is final (or gone); its outbox row is done.
    Finished,
    /// The worker is stopping: hand the row back.
    Stopped,
    /// The claim is gone (cancelled, or taken over after a lapsed lease).
    Lost,
    /// SleakOps could not be used; try again later.
    Retry {
        error: SleakOpsError,
        status: ReleaseStatus,
    },
}

enum Flow {
    /// The release changed (or may have): look at it again.
    Continue,
    End(End),
}

enum Woke {
    Timer,
    Stop,
    Lost,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    status: String,
    branch: String,
    commit_sha: String,
    tag: Option<String>,
    sleakops_build_id: Option<String>,
    sleakops_deployment_id: Option<String>,
    build_requested_at: Option<DateTime<Utc>>,
    built_at: Option<DateTime<Utc>>,
    deployment_requested_at: Option<DateTime<Utc>>,
    sleakops_project: String,
    sleakops_environment: String,
    environment: String,
}

enum Step {
    Done,
    TriggerBuild,
    PollBuild(ResourceId),
    TriggerDeployment(ResourceId),
    PollDeployment(ResourceId),
    Fail(ReleaseStatus, String),
}

fn decide(row: &Row, status: ReleaseStatus) -> Step {
    let build = row.sleakops_build_id.clone().map(ResourceId::new);
    let deployment = row.sleakops_deployment_id.clone().map(ResourceId::new);
    match status {
        ReleaseStatus::Deployed | ReleaseStatus::Failed | ReleaseStatus::Cancelled => Step::Done,
        ReleaseStatus::Queued => match (build, row.build_requested_at) {
            (Some(id), _) => Step::PollBuild(id),
            (None, Some(_)) => Step::Fail(
                status,
                format!(
                    "A worker stopped while starting the build on SleakOps, so it is unknown \
                     whether the build started. Faro does not start it again by itself, so \
                     nothing is built twice: check SleakOps for a build of {} and retry this \
                     release.",
                    row.branch
                ),
            ),
            (None, None) => Step::TriggerBuild,
        },
        ReleaseStatus::Building => match (build, row.built_at, deployment) {
            (None, _, _) => Step::Fail(
                status,
                "The release is building but has no SleakOps build id; retry it.".into(),
            ),
            (Some(_), _, Some(deployment)) => Step::PollDeployment(deployment),
            (Some(build), None, None) => Step::PollBuild(build),
            (Some(build), Some(_), None) => match row.deployment_requested_at {
                None => Step::TriggerDeployment(build),
                Some(_) => Step::Fail(
                    status,
                    format!(
                        "A worker stopped while starting the deployment of build {build} on \
                         SleakOps, so it is unknown whether it started. Faro does not start it \
                         again by itself, so nothing is deployed twice: check SleakOps for a \
                         deployment to {} and retry this release.",
                        row.sleakops_environment
                    ),
                ),
            },
        },
        ReleaseStatus::Deploying => match deployment {
            Some(deployment) => Step::PollDeployment(deployment),
            None => Step::Fail(
                status,
                "The release is deploying but has no SleakOps deployment id; retry it.".into(),
            ),
        },
    }
}

/// SleakOps said no in a way waiting will not change.
fn permanent(err: &SleakOpsError) -> bool {
    !err.is_transient()
        && !matches!(
            err,
            // The operator can fix the key while the release waits.
            SleakOpsError::Unauthorized | SleakOpsError::Forbidden { .. }
        )
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn clip(mut text: String) -> String {
    if text.chars().count() > MAX_REASON {
        text = text.chars().take(MAX_REASON - 1).collect();
        text.push('…');
    }
    text
}

/// Where following a SleakOps build or deployment ended.
enum Followed {
    Succeeded,
    /// It failed on SleakOps, with these errors.
    Failed(Vec<String>),
    /// The job ends or moves on without it (the release failed, a retry, a stop).
    Ended(Flow),
}

fn errors_text(errors: &[String]) -> String {
    if errors.is_empty() {
        "SleakOps reported no details".to_owned()
    } else {
        errors.join("; ")
    }
}

pub(super) struct Job {
    pub state: AppState,
    pub sleakops: faro_sleakops::Client,
    pub claim: Claim,
    pub stop: watch::Receiver<bool>,
    pub lost: watch::Receiver<bool>,
}

impl Job {
    fn config(&self) -> &WorkerConfig {
        &self.state.config.worker
    }

    fn id(&self) -> u64 {
        self.claim.release_id
    }

    /// Drives the release, then settles the claim.
    pub async fn run(self) {
        let release_id = self.id();
        let end = match self.drive().await {
            Ok(end) => end,
            Err(err) => {
                tracing::warn!(release_id, error = %err, "release worker step failed; retrying later");
                let _ =
                    outbox::release(&self.state.db, &self.claim, self.config().retry_base).await;
                return;
            }
        };
        tracing::debug!(release_id, end = ?end, "release job ended");
        let settled = match end {
            End::Finished | End::Lost => Ok(()),
            End::Stopped => outbox::release(&self.state.db, &self.claim, Duration::ZERO)
                .await
                .map_err(JobError::from),
            End::Retry { error, status } => self.retry_later(error, status).await,
        };
        if let Err(err) = settled {
            // The lease runs out and another attempt follows.
            tracing::warn!(release_id, error = %err, "cannot settle the release's outbox row");
        }
    }

    /// Counts a failed SleakOps call for the metrics (not the ones the open circuit refused).
    fn noted<T>(&self, result: Result<T, SleakOpsError>) -> Result<T, SleakOpsError> {
        if let Err(err) = &result
            && !matches!(err, SleakOpsError::CircuitOpen { .. })
        {
            self.state.metrics.external_error();
        }
        result
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    async fn pause(&self, delay: Duration) -> Woke {
        async fn flipped(mut rx: watch::Receiver<bool>) {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => Woke::Timer,
            () = flipped(self.stop.clone()) => Woke::Stop,
            () = flipped(self.lost.clone()) => Woke::Lost,
        }
    }

    async fn load(&self) -> Result<Option<Row>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.status, r.branch, r.commit_sha, r.tag, r.sleakops_build_id, \
             r.sleakops_deployment_id, r.build_requested_at, r.built_at, \
             r.deployment_requested_at, p.sleakops_project, e.sleakops_environment, \
             e.name AS environment \
             FROM releases r JOIN projects p ON p.id = r.project_id \
             JOIN environments e ON e.id = r.environment_id WHERE r.id = ?",
        )
        .bind(self.id())
        .fetch_optional(&self.state.db)
        .await
    }

    async fn drive(&self) -> Result<End, JobError> {
        loop {
            if self.stopping() {
                return Ok(End::Stopped);
            }
            if self.is_lost() {
                return Ok(End::Lost);
            }
            let Some(row) = self.load().await? else {
                // Deleted with its project; the outbox row went with it.
                return Ok(End::Finished);
            };
            let status = crate::releases::store::status_of(&row.status)?;
            let flow = match decide(&row, status) {
                Step::Done => {
                    let mut tx = self.state.db.begin().await?;
                    outbox::done(&mut tx, &self.claim).await?;
                    tx.commit().await?;
                    return Ok(End::Finished);
                }
                Step::Fail(from, reason) => self.fail(from, reason).await?,
                Step::TriggerBuild => self.trigger_build(&row).await?,
                Step::PollBuild(id) => self.poll_build(&id).await?,
                Step::TriggerDeployment(build) => self.trigger_deployment(&row, &build).await?,
                Step::PollDeployment(id) => self.poll_deployment(&row, &id).await?,
            };
            if let Flow::End(end) = flow {
                return Ok(end);
            }
        }
    }

    /// Appends `event` in `tx` (which holds the release row's lock), commits, and announces
    /// the event to this task's streams.
    async fn commit_with(
        &self,
        mut tx: Transaction<'_, MySql>,
        event: NewEvent,
    ) -> Result<(), JobError> {
        let event = timeline::append(&self.state, &mut tx, self.id(), event).await?;
        tx.commit().await?;
        self.state.release_events.publish(self.id(), event);
        Ok(())
    }

    /// Appends an event that does not change the status, if the release still has `status`.
    async fn progress(&self, status: ReleaseStatus, message: String) -> Result<(), JobError> {
        let mut tx = self.state.db.begin().await?;
        match crate::releases::store::lock(&mut tx, self.id()).await? {
            Some((current, _)) if current == status => {
                self.commit_with(tx, NewEvent::new(EventKind::Progress, status, message))
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Fails the release if it still has status `from` (and ends the job), else looks again.
    async fn fail(&self, from: ReleaseStatus, reason: String) -> Result<Flow, JobError> {
        let reason = clip(reason);
        let now = db::now();
        let mut tx = self.state.db.begin().await?;
        let updated = sqlx::query(
            "UPDATE releases SET status = 'failed', failure_reason = ?, finished_at = ?, \
             updated_at = ? WHERE id = ? AND status = ?",
        )
        .bind(&reason)
        .bind(now)
        .bind(now)
        .bind(self.id())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(Flow::Continue);
        }
        outbox::done(&mut tx, &self.claim).await?;
        tracing::info!(release_id = self.id(), reason = %reason, "release failed");
        self.commit_with(
            tx,
            NewEvent::new(EventKind::Failed, ReleaseStatus::Failed, reason),
        )
        .await?;
        Ok(Flow::End(End::Finished))
    }

    /// Records a failed attempt: the release waits (with a timeline note) and is tried again
    /// after a growing delay, or fails once the attempts are used up.
    async fn retry_later(
        &self,
        error: SleakOpsError,
        status: ReleaseStatus,
    ) -> Result<(), JobError> {
        let config = self.config();
        let attempts = self.claim.attempts + 1;
        if attempts >= config.max_attempts {
            return self
                .fail(
                    status,
                    format!(
                        "SleakOps could not be used after {attempts} attempts; the last error: \
                         {error}. Retry the release once SleakOps is back."
                    ),
                )
                .await
                .map(|_| ());
        }
        let delay = Backoff::new(config.retry_base, config.retry_max)
            .equal_jitter(attempts - 1)
            .max(error.retry_after().unwrap_or_default());
        let message = format!(
            "Waiting for SleakOps: {error}. Trying again in {} s (attempt {attempts} of {}).",
            delay.as_secs().max(1),
            config.max_attempts
        );
        tracing::info!(release_id = self.id(), attempts, delay_ms = delay.as_millis() as u64, error = %error, "release waits for SleakOps");
        let mut tx = self.state.db.begin().await?;
        let current = crate::releases::store::lock(&mut tx, self.id()).await?;
        outbox::reschedule(&mut tx, &self.claim, attempts, delay, &error.to_string()).await?;
        match current {
            Some((current, _)) if current == status => {
                self.commit_with(tx, NewEvent::new(EventKind::Progress, status, message))
                    .await
            }
            _ => Ok(tx.commit().await?),
        }
    }

    async fn trigger_build(&self, row: &Row) -> Result<Flow, JobError> {
        let now = db::now();
        let marked = sqlx::query(
            "UPDATE releases SET build_requested_at = ?, updated_at = ? WHERE id = ? \
             AND status = 'queued' AND build_requested_at IS NULL AND sleakops_build_id IS NULL",
        )
        .bind(now)
        .bind(now)
        .bind(self.id())
        .execute(&self.state.db)
        .await?;
        if marked.rows_affected() == 0 || self.is_lost() {
            return Ok(Flow::Continue);
        }
        let request = BuildRequest {
            project_env: ProjectEnv {
                project_name: row.sleakops_project.clone(),
                environment_name: None,
            },
            branch: row.branch.clone(),
            commit: Some(row.commit_sha.clone()),
            tag: row.tag.clone(),
            environment: Some(row.sleakops_environment.clone()),
        };
        let build = match self.noted(self.sleakops.create_build(&request).await) {
            Ok(build) => build,
            Err(err) if err.is_outcome_unknown() => {
                return self
                    .fail(
                        ReleaseStatus::Queued,
                        format!(
                            "SleakOps may or may not have started the build: {err}. Faro does not \
                         start it again by itself, so nothing is built twice: check SleakOps \
                         for a build of {} and retry this release.",
                            row.branch
                        ),
                    )
                    .await;
            }
            Err(err) => {
                // Certainly not acted on: the next attempt may send it again.
                sqlx::query(
                    "UPDATE releases SET build_requested_at = NULL WHERE id = ? \
                     AND sleakops_build_id IS NULL",
                )
                .bind(self.id())
                .execute(&self.state.db)
                .await?;
                if permanent(&err) {
                    return self
                        .fail(
                            ReleaseStatus::Queued,
                            format!("SleakOps refused to start the build: {err}"),
                        )
                        .await;
                }
                return Ok(Flow::End(End::Retry {
                    error: err,
                    status: ReleaseStatus::Queued,
                }));
            }
        };
        let now = db::now();
        let mut tx = self.state.db.begin().await?;
        let moved = sqlx::query(
            "UPDATE releases SET status = 'building', sleakops_build_id = ?, \
             started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ? AND status = 'queued'",
        )
        .bind(build.id.as_str())
        .bind(now)
        .bind(now)
        .bind(self.id())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            tx.rollback().await?;
            // Cancelled meanwhile: keep the build's id for the record, nothing more.
            sqlx::query(
                "UPDATE releases SET sleakops_build_id = ? WHERE id = ? AND sleakops_build_id IS NULL",
            )
            .bind(build.id.as_str())
            .bind(self.id())
            .execute(&self.state.db)
            .await?;
            tracing::info!(release_id = self.id(), build = %build.id, "build started for a release that changed meanwhile");
            return Ok(Flow::Continue);
        }
        outbox::progressed(&mut tx, &self.claim).await?;
        let message = format!(
            "Build {} started on SleakOps: {} at {} of project {}",
            build.id,
            row.branch,
            short(&row.commit_sha),
            row.sleakops_project
        );
        self.commit_with(
            tx,
            NewEvent::new(EventKind::BuildStarted, ReleaseStatus::Building, message),
        )
        .await?;
        Ok(Flow::Continue)
    }

    /// Polls a SleakOps build or deployment (`what`, for messages) until it succeeds, fails
    /// or can no longer be followed, announcing each new state on the timeline as `status`.
    async fn follow<F, Fut>(
        &self,
        what: &str,
        status: ReleaseStatus,
        id: &ResourceId,
        fetch: F,
    ) -> Result<Followed, JobError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(State, Vec<String>), SleakOpsError>>,
    {
        let mut delay = self.config().status_poll;
        let mut announced: Option<State> = None;
        loop {
            let end = |flow| Ok(Followed::Ended(flow));
            match self.noted(fetch().await) {
                Ok((State::Created, _)) => return Ok(Followed::Succeeded),
                Ok((State::Error, errors)) => return Ok(Followed::Failed(errors)),
                Ok((state, _)) => {
                    if state != State::Initial && announced.as_ref() != Some(&state) {
                        self.progress(status, format!("{what} {id} is {state} on SleakOps"))
                            .await?;
                    }
                    announced = Some(state);
                }
                Err(SleakOpsError::NotFound { .. }) => {
                    let reason = format!(
                        "SleakOps no longer knows {} {id}; retry the release.",
                        what.to_lowercase()
                    );
                    return end(self.fail(status, reason).await?);
                }
                Err(err) if permanent(&err) => {
                    let reason = format!("{what} {id} cannot be followed on SleakOps: {err}");
                    return end(self.fail(status, reason).await?);
                }
                Err(error) => return end(Flow::End(End::Retry { error, status })),
            }
            match self.pause(delay).await {
                Woke::Timer => {}
                Woke::Stop => return end(Flow::End(End::Stopped)),
                Woke::Lost => return end(Flow::End(End::Lost)),
            }
            delay = (delay * 3 / 2).min(self.config().status_poll_max);
        }
    }

    async fn poll_build(&self, id: &ResourceId) -> Result<Flow, JobError> {
        let fetch = || async move {
            self.sleakops
                .build(id)
                .await
                .map(|build| (build.state, build.errors))
        };
        match self
            .follow("Build", ReleaseStatus::Building, id, fetch)
            .await?
        {
            Followed::Ended(flow) => Ok(flow),
            Followed::Failed(errors) => {
                self.fail(
                    ReleaseStatus::Building,
                    format!("Build {id} failed on SleakOps: {}", errors_text(&errors)),
                )
                .await
            }
            Followed::Succeeded => {
                let now = db::now();
                let mut tx = self.state.db.begin().await?;
                let marked = sqlx::query(
                    "UPDATE releases SET built_at = ?, updated_at = ? WHERE id = ? \
                     AND status = 'building' AND built_at IS NULL",
                )
                .bind(now)
                .bind(now)
                .bind(self.id())
                .execute(&mut *tx)
                .await?;
                if marked.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(Flow::Continue);
                }
                outbox::progressed(&mut tx, &self.claim).await?;
                self.commit_with(
                    tx,
                    NewEvent::new(
                        EventKind::BuildSucceeded,
                        ReleaseStatus::Building,
                        format!("Build {id} succeeded on SleakOps"),
                    ),
                )
                .await?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn trigger_deployment(&self, row: &Row, build: &ResourceId) -> Result<Flow, JobError> {
        let now = db::now();
        let marked = sqlx::query(
            "UPDATE releases SET deployment_requested_at = ?, updated_at = ? WHERE id = ? \
             AND status = 'building' AND built_at IS NOT NULL \
             AND deployment_requested_at IS NULL AND sleakops_deployment_id IS NULL",
        )
        .bind(now)
        .bind(now)
        .bind(self.id())
        .execute(&self.state.db)
        .await?;
        if marked.rows_affected() == 0 || self.is_lost() {
            return Ok(Flow::Continue);
        }
        let request = DeploymentRequest {
            project_env: ProjectEnv {
                project_name: row.sleakops_project.clone(),
                environment_name: Some(row.sleakops_environment.clone()),
            },
            build: Some(build.clone()),
            image: None,
            tag: row.tag.clone(),
        };
        let deployment = match self.noted(self.sleakops.create_deployment(&request).await) {
            Ok(deployment) => deployment,
            Err(err) if err.is_outcome_unknown() => {
                return self
                    .fail(
                        ReleaseStatus::Building,
                        format!(
                            "SleakOps may or may not have started the deployment of build {build}: \
                         {err}. Faro does not start it again by itself, so nothing is deployed \
                         twice: check SleakOps for a deployment to {} and retry this release.",
                            row.sleakops_environment
                        ),
                    )
                    .await;
            }
            Err(err) => {
                sqlx::query(
                    "UPDATE releases SET deployment_requested_at = NULL WHERE id = ? \
                     AND sleakops_deployment_id IS NULL",
                )
                .bind(self.id())
                .execute(&self.state.db)
                .await?;
                if permanent(&err) {
                    return self
                        .fail(
                            ReleaseStatus::Building,
                            format!("SleakOps refused to deploy build {build}: {err}"),
                        )
                        .await;
                }
                return Ok(Flow::End(End::Retry {
                    error: err,
                    status: ReleaseStatus::Building,
                }));
            }
        };
        let now = db::now();
        let mut tx = self.state.db.begin().await?;
        let moved = sqlx::query(
            "UPDATE releases SET status = 'deploying', sleakops_deployment_id = ?, updated_at = ? \
             WHERE id = ? AND status = 'building'",
        )
        .bind(deployment.id.as_str())
        .bind(now)
        .bind(self.id())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            tx.rollback().await?;
            sqlx::query(
                "UPDATE releases SET sleakops_deployment_id = ? WHERE id = ? \
                 AND sleakops_deployment_id IS NULL",
            )
            .bind(deployment.id.as_str())
            .bind(self.id())
            .execute(&self.state.db)
            .await?;
            tracing::info!(release_id = self.id(), deployment = %deployment.id, "deployment started for a release that changed meanwhile");
            return Ok(Flow::Continue);
        }
        outbox::progressed(&mut tx, &self.claim).await?;
        self.commit_with(
            tx,
            NewEvent::new(
                EventKind::DeploymentStarted,
                ReleaseStatus::Deploying,
                format!(
                    "Deployment {} of build {build} to {} started on SleakOps",
                    deployment.id, row.sleakops_environment
                ),
            ),
        )
        .await?;
        Ok(Flow::Continue)
    }

    async fn poll_deployment(&self, row: &Row, id: &ResourceId) -> Result<Flow, JobError> {
        let fetch = || async move {
            self.sleakops
                .deployment(id)
                .await
                .map(|deployment| (deployment.state, deployment.errors))
        };
        match self
            .follow("Deployment", ReleaseStatus::Deploying, id, fetch)
            .await?
        {
            Followed::Ended(flow) => Ok(flow),
            Followed::Failed(errors) => {
                self.fail(
                    ReleaseStatus::Deploying,
                    format!(
                        "Deployment {id} to {} failed on SleakOps: {}",
                        row.sleakops_environment,
                        errors_text(&errors)
                    ),
                )
                .await
            }
            Followed::Succeeded => {
                let now = db::now();
                let mut tx = self.state.db.begin().await?;
                let moved = sqlx::query(
                    "UPDATE releases SET status = 'deployed', deployed_at = ?, \
                     finished_at = ?, updated_at = ? WHERE id = ? AND status = 'deploying'",
                )
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(self.id())
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(Flow::Continue);
                }
                outbox::done(&mut tx, &self.claim).await?;
                self.commit_with(
                    tx,
                    NewEvent::new(
                        EventKind::Deployed,
                        ReleaseStatus::Deployed,
                        format!("Deployed to {} (deployment {id})", row.environment),
                    ),
                )
                .await?;
                tracing::info!(release_id = self.id(), "release deployed");
                Ok(Flow::End(End::Finished))
            }
        }
    }
}
