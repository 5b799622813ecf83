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
//! cancel that got there first is never overwritten. The same UPDATE hands out the event's
//! sequence number ([`timeline::next_seq_sql`]).
//!
//! The job reads the release once and then keeps its copy in step with each change it
//! makes; only a change that did not apply (someone else moved the release) makes it read
//! the release again. A release that goes straight through thus costs 16 round trips to
//! MySQL (one read, two marks, four transactions of three or four) and four timeline puts.

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
use sqlx::{MySql, Transaction, mysql::MySqlArguments, query::Query};
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
    /// The step moved the release as planned, and the job's copy says where it is now.
    Moved,
    /// The release changed beneath the job (or may have): read it again.
    Reload,
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

/// Something the job starts on SleakOps: the build, or the deployment of the build.
struct Trigger {
    /// The release's status before the call, and once SleakOps started it.
    from: ReleaseStatus,
    to: ReleaseStatus,
    /// The column of the mark written before the call, and the one keeping SleakOps' id.
    mark: &'static str,
    id_column: &'static str,
    /// What must hold besides `from` for the call to be sent (SQL).
    ready: &'static str,
    started: EventKind,
}

const BUILD: Trigger = Trigger {
    from: ReleaseStatus::Queued,
    to: ReleaseStatus::Building,
    mark: "build_requested_at",
    id_column: "sleakops_build_id",
    ready: "TRUE",
    started: EventKind::BuildStarted,
};

const DEPLOYMENT: Trigger = Trigger {
    from: ReleaseStatus::Building,
    to: ReleaseStatus::Deploying,
    mark: "deployment_requested_at",
    id_column: "sleakops_deployment_id",
    ready: "built_at IS NOT NULL",
    started: EventKind::DeploymentStarted,
};

impl Trigger {
    /// Brings the job's copy of the release up to date after the mark was written.
    fn marked(&self, row: &mut Row, at: DateTime<Utc>) {
        match self.to {
            ReleaseStatus::Building => row.build_requested_at = Some(at),
            _ => row.deployment_requested_at = Some(at),
        }
    }

    /// Brings the job's copy of the release up to date after it moved to `to`.
    fn started(&self, row: &mut Row, id: &ResourceId) {
        row.status = self.to.as_str().to_owned();
        let id = Some(id.as_str().to_owned());
        match self.to {
            ReleaseStatus::Building => row.sleakops_build_id = id,
            _ => row.sleakops_deployment_id = id,
        }
    }
}

/// How a trigger's outcomes are told on the release.
struct Wording {
    /// What may have started ("the build").
    what: String,
    /// What must not happen twice ("built").
    twice: &'static str,
    /// What to look for on SleakOps ("a build of main").
    check: String,
    /// What SleakOps refused to do ("start the build").
    refused: String,
}

/// Runs `update`, an UPDATE of the release row that also sets [`timeline::next_seq_sql`], in
/// `tx`: the new event's number, or `None` when the release was not as `update` expects.
async fn numbered(
    tx: &mut Transaction<'_, MySql>,
    update: Query<'_, MySql, MySqlArguments>,
) -> Result<Option<u64>, sqlx::Error> {
    let done = update.execute(&mut **tx).await?;
    Ok((done.rows_affected() == 1).then(|| done.last_insert_id()))
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
        let mut copy: Option<Row> = None;
        loop {
            if self.stopping() {
                return Ok(End::Stopped);
            }
            if self.is_lost() {
                return Ok(End::Lost);
            }
            let row = match copy.as_mut() {
                Some(row) => row,
                None => match self.load().await? {
                    Some(row) => copy.insert(row),
                    // Deleted with its project; the outbox row went with it.
                    None => return Ok(End::Finished),
                },
            };
            let status = crate::releases::store::status_of(&row.status)?;
            let flow = match decide(row, status) {
                Step::Done => {
                    let mut tx = self.state.db.begin().await?;
                    outbox::done(&mut tx, &self.claim).await?;
                    tx.commit().await?;
                    return Ok(End::Finished);
                }
                Step::Fail(from, reason) => self.fail(from, reason).await?,
                Step::TriggerBuild => self.trigger_build(row).await?,
                Step::PollBuild(id) => self.poll_build(row, &id).await?,
                Step::TriggerDeployment(build) => self.trigger_deployment(row, &build).await?,
                Step::PollDeployment(id) => self.poll_deployment(row, &id).await?,
            };
            match flow {
                Flow::Moved => {}
                Flow::Reload => copy = None,
                Flow::End(end) => return Ok(end),
            }
        }
    }

    /// Writes event number `seq` (handed out in `tx`, which holds the release row's lock),
    /// commits, and announces the event to this task's streams.
    async fn commit_with(
        &self,
        tx: Transaction<'_, MySql>,
        seq: u64,
        event: NewEvent,
    ) -> Result<(), JobError> {
        let event = timeline::append_numbered(&self.state, self.id(), seq, event).await?;
        tx.commit().await?;
        self.state.release_events.publish(self.id(), event);
        Ok(())
    }

    /// The release's next event number in `tx`, if the release still has `status`. Locks the
    /// release row either way.
    async fn next_seq_if(
        &self,
        tx: &mut Transaction<'_, MySql>,
        status: ReleaseStatus,
    ) -> Result<Option<u64>, sqlx::Error> {
        let update = sqlx::query(concat!(
            "UPDATE releases SET ",
            timeline::next_seq_sql!(),
            " WHERE id = ? AND status = ?"
        ))
        .bind(self.id())
        .bind(status.as_str());
        numbered(tx, update).await
    }

    /// Appends an event that does not change the status, if the release still has `status`.
    async fn progress(&self, status: ReleaseStatus, message: String) -> Result<(), JobError> {
        let mut tx = self.state.db.begin().await?;
        match self.next_seq_if(&mut tx, status).await? {
            Some(seq) => {
                self.commit_with(tx, seq, NewEvent::new(EventKind::Progress, status, message))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Fails the release if it still has status `from` (and ends the job), else looks again.
    async fn fail(&self, from: ReleaseStatus, reason: String) -> Result<Flow, JobError> {
        let reason = clip(reason);
        let now = db::now();
        let mut tx = self.state.db.begin().await?;
        let update = sqlx::query(concat!(
            "UPDATE releases SET status = 'failed', failure_reason = ?, finished_at = ?, \
             updated_at = ?, ",
            timeline::next_seq_sql!(),
            " WHERE id = ? AND status = ?"
        ))
        .bind(&reason)
        .bind(now)
        .bind(now)
        .bind(self.id())
        .bind(from.as_str());
        let Some(seq) = numbered(&mut tx, update).await? else {
            return Ok(Flow::Reload);
        };
        outbox::done(&mut tx, &self.claim).await?;
        tracing::info!(release_id = self.id(), reason = %reason, "release failed");
        let event = NewEvent::new(EventKind::Failed, ReleaseStatus::Failed, reason);
        self.commit_with(tx, seq, event).await?;
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
        // The release row first, then the outbox row: the order cancelling locks them in.
        let seq = self.next_seq_if(&mut tx, status).await?;
        outbox::reschedule(&mut tx, &self.claim, attempts, delay, &error.to_string()).await?;
        match seq {
            Some(seq) => {
                self.commit_with(tx, seq, NewEvent::new(EventKind::Progress, status, message))
                    .await
            }
            None => Ok(tx.commit().await?),
        }
    }

    /// Starts `trigger` on SleakOps with `send`: writes the mark, sends, and moves the
    /// release on with the event `started` words, or fails it or has it wait, as the outcome
    /// requires. Reads nothing: `row` is the job's copy, kept up to date.
    async fn trigger<Fut>(
        &self,
        row: &mut Row,
        trigger: &Trigger,
        send: Fut,
        wording: Wording,
        started: impl FnOnce(&ResourceId) -> String,
    ) -> Result<Flow, JobError>
    where
        Fut: Future<Output = Result<ResourceId, SleakOpsError>>,
    {
        let Trigger {
            from,
            to,
            mark,
            id_column,
            ready,
            ..
        } = trigger;
        let now = db::now();
        let marked = sqlx::query(&format!(
            "UPDATE releases SET {mark} = ?, updated_at = ? WHERE id = ? AND status = ? \
             AND {ready} AND {mark} IS NULL AND {id_column} IS NULL"
        ))
        .bind(now)
        .bind(now)
        .bind(self.id())
        .bind(from.as_str())
        .execute(&self.state.db)
        .await?;
        if marked.rows_affected() == 0 || self.is_lost() {
            return Ok(Flow::Reload);
        }
        trigger.marked(row, now);
        let id = match self.noted(send.await) {
            Ok(id) => id,
            Err(err) if err.is_outcome_unknown() => {
                let Wording {
                    what, twice, check, ..
                } = wording;
                let reason = format!(
                    "SleakOps may or may not have started {what}: {err}. Faro does not start \
                     it again by itself, so nothing is {twice} twice: check SleakOps for \
                     {check} and retry this release."
                );
                return self.fail(*from, reason).await;
            }
            Err(err) => {
                // Certainly not acted on: the next attempt may send it again.
                sqlx::query(&format!(
                    "UPDATE releases SET {mark} = NULL WHERE id = ? AND {id_column} IS NULL"
                ))
                .bind(self.id())
                .execute(&self.state.db)
                .await?;
                if permanent(&err) {
                    let reason = format!("SleakOps refused to {}: {err}", wording.refused);
                    return self.fail(*from, reason).await;
                }
                return Ok(Flow::End(End::Retry {
                    error: err,
                    status: *from,
                }));
            }
        };
        let now = db::now();
        let mut tx = self.state.db.begin().await?;
        let sql = format!(
            concat!(
                "UPDATE releases SET status = ?, {} = ?, started_at = COALESCE(started_at, ?), \
                 updated_at = ?, ",
                timeline::next_seq_sql!(),
                " WHERE id = ? AND status = ?"
            ),
            id_column
        );
        let update = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(id.as_str())
            .bind(now)
            .bind(now)
            .bind(self.id())
            .bind(from.as_str());
        let Some(seq) = numbered(&mut tx, update).await? else {
            tx.rollback().await?;
            // Cancelled meanwhile: keep SleakOps' id for the record, nothing more.
            sqlx::query(&format!(
                "UPDATE releases SET {id_column} = ? WHERE id = ? AND {id_column} IS NULL"
            ))
            .bind(id.as_str())
            .bind(self.id())
            .execute(&self.state.db)
            .await?;
            tracing::info!(release_id = self.id(), started = %id, what = %wording.what, "started on SleakOps for a release that changed meanwhile");
            return Ok(Flow::Reload);
        };
        outbox::progressed(&mut tx, &self.claim).await?;
        let event = NewEvent::new(trigger.started, *to, started(&id));
        self.commit_with(tx, seq, event).await?;
        trigger.started(row, &id);
        Ok(Flow::Moved)
    }

    async fn trigger_build(&self, row: &mut Row) -> Result<Flow, JobError> {
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
        let wording = Wording {
            what: "the build".into(),
            twice: "built",
            check: format!("a build of {}", row.branch),
            refused: "start the build".into(),
        };
        let detail = format!(
            "{} at {} of project {}",
            row.branch,
            short(&row.commit_sha),
            row.sleakops_project
        );
        let send = async { self.sleakops.create_build(&request).await.map(|b| b.id) };
        self.trigger(row, &BUILD, send, wording, |id| {
            format!("Build {id} started on SleakOps: {detail}")
        })
        .await
    }

    async fn trigger_deployment(
        &self,
        row: &mut Row,
        build: &ResourceId,
    ) -> Result<Flow, JobError> {
        let request = DeploymentRequest {
            project_env: ProjectEnv {
                project_name: row.sleakops_project.clone(),
                environment_name: Some(row.sleakops_environment.clone()),
            },
            build: Some(build.clone()),
            image: None,
            tag: row.tag.clone(),
        };
        let environment = row.sleakops_environment.clone();
        let wording = Wording {
            what: format!("the deployment of build {build}"),
            twice: "deployed",
            check: format!("a deployment to {environment}"),
            refused: format!("deploy build {build}"),
        };
        let send = async {
            let deployment = self.sleakops.create_deployment(&request).await;
            deployment.map(|d| d.id)
        };
        self.trigger(row, &DEPLOYMENT, send, wording, |id| {
            format!("Deployment {id} of build {build} to {environment} started on SleakOps")
        })
        .await
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

    async fn poll_build(&self, row: &mut Row, id: &ResourceId) -> Result<Flow, JobError> {
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
                let update = sqlx::query(concat!(
                    "UPDATE releases SET built_at = ?, updated_at = ?, ",
                    timeline::next_seq_sql!(),
                    " WHERE id = ? \
                     AND status = 'building' AND built_at IS NULL"
                ))
                .bind(now)
                .bind(now)
                .bind(self.id());
                let Some(seq) = numbered(&mut tx, update).await? else {
                    tx.rollback().await?;
                    return Ok(Flow::Reload);
                };
                outbox::progressed(&mut tx, &self.claim).await?;
                let event = NewEvent::new(
                    EventKind::BuildSucceeded,
                    ReleaseStatus::Building,
                    format!("Build {id} succeeded on SleakOps"),
                );
                self.commit_with(tx, seq, event).await?;
                row.built_at = Some(now);
                Ok(Flow::Moved)
            }
        }
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
                let update = sqlx::query(concat!(
                    "UPDATE releases SET status = 'deployed', deployed_at = ?, \
                     finished_at = ?, updated_at = ?, ",
                    timeline::next_seq_sql!(),
                    " WHERE id = ? AND status = 'deploying'"
                ))
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(self.id());
                let Some(seq) = numbered(&mut tx, update).await? else {
                    tx.rollback().await?;
                    return Ok(Flow::Reload);
                };
                outbox::done(&mut tx, &self.claim).await?;
                let event = NewEvent::new(
                    EventKind::Deployed,
                    ReleaseStatus::Deployed,
                    format!("Deployed to {} (deployment {id})", row.environment),
                );
                self.commit_with(tx, seq, event).await?;
                tracing::info!(release_id = self.id(), "release deployed");
                Ok(Flow::End(End::Finished))
            }
        }
    }
}
