//! One claimed release, driven from its stored state to the end (or until it must wait): the
//! loop that does the I/O — SleakOps calls, MySQL through [`store`], the timeline — for the
//! steps and changes [`machine`] decides.
//!
//! The stored state says what comes next ([`machine::decide`]), so any task can resume any
//! release:
//!
//! | status | stored | next step |
//! |---|---|---|
//! | queued | nothing | mark `build_requested_at`, then `POST cli-build/` |
//! | queued | `build_requested_at` only | the build may have been started: fail, never re-send |
//! | queued | build id | the id was saved but the start not recorded: record it |
//! | queued, `build_of` | build id, `built_at`, nothing more | mark `deployment_requested_at`, then `POST cli-deployment/` of that build |
//! | queued, `build_of` | `deployment_requested_at` only | the deployment may have been started: fail |
//! | queued, `build_of` | deployment id | the id was saved but the start not recorded: record it |
//! | building | build id, no `built_at` | poll the build |
//! | building | `built_at`, nothing more | mark `deployment_requested_at`, then `POST cli-deployment/` |
//! | building | `deployment_requested_at` only | the deployment may have been started: fail |
//! | building | deployment id | the id was saved but the start not recorded: record it |
//! | deploying | deployment id | poll the deployment |
//! | awaiting_approval | before `approval_expires_at` | hand the row back, due then; trigger nothing |
//! | awaiting_approval | from `approval_expires_at` | expire it (`expired`, outbox row done) |
//!
//! Each mark is written (and committed) before its trigger and only if it was unset, so of
//! two workers that both believe they own a release at most one sends the trigger. After
//! writing it the job confirms its claim (one renewal): a job whose claim was lost, or that
//! is told to stop, clears its own mark and sends nothing, so another task triggers the
//! release instead of finding a mark nobody can explain. A trigger SleakOps certainly did
//! not act on (refused with 429/503, no connection) clears its mark again. The id SleakOps
//! answers is saved on its own at once ([`store::save_id`]), before the transaction that
//! moves the release on and its timeline event (DynamoDB), so neither failing loses it.
//!
//! A build or deployment is followed until it ends or until `FARO_WORKER_FOLLOW_DEADLINE_SECS`
//! after it was requested: then the release `needs_attention`, its outbox row is done (the
//! slot is free) and its failure reason tells a person which SleakOps ids to check.
//!
//! Every change of the release is an `UPDATE … WHERE status = <expected>` in a
//! transaction that appends its timeline event as `releases::timeline` prescribes, so a
//! cancel that got there first is never overwritten. The same UPDATE hands out the event's
//! sequence number ([`timeline::next_seq_sql`]).
//!
//! The job reads the release once and then keeps its copy in step with each change it
//! makes; only a change that did not apply (someone else moved the release) makes it read
//! the release again. A release that goes straight through thus costs 20 round trips to
//! MySQL (one read, two marks with their confirmations, two saved ids, four transactions of
//! three or four) and four timeline puts.

use super::{
    machine::{
        self, Change, Follow, OutboxWrite, Polled, Release, Report, Retry, Step, Trigger, Unsent,
    },
    store::{self, Claim},
};
use crate::{
    AppState,
    config::WorkerConfig,
    db,
    releases::timeline::{self, NewEvent, TimelineError},
};
use chrono::{DateTime, Utc};
use faro_resilience::Backoff;
use faro_sleakops::{BuildRequest, DeploymentRequest, ProjectEnv, ResourceId, SleakOpsError};
use faro_types::ReleaseStatus;
use sqlx::{MySql, Transaction};
use std::time::Duration;
use tokio::sync::watch;

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
    /// The release waits (for approval) until then: hand the row back, due at that time.
    Waiting(DateTime<Utc>),
    /// The claim is gone (cancelled, or taken over after a lapsed lease).
    Lost,
    /// SleakOps could not be used while the release had `status`; try again later.
    Retry {
        error: SleakOpsError,
        status: ReleaseStatus,
        release: Box<Release>,
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
                let _ = store::release(&self.state.db, &self.claim, self.config().retry_base).await;
                return;
            }
        };
        tracing::debug!(release_id, end = ?end, "release job ended");
        let settled = match end {
            End::Finished | End::Lost => Ok(()),
            End::Stopped => store::release(&self.state.db, &self.claim, Duration::ZERO)
                .await
                .map_err(JobError::from),
            End::Waiting(until) => {
                let delay = (until - db::now()).to_std().unwrap_or_default();
                store::release(&self.state.db, &self.claim, delay)
                    .await
                    .map_err(JobError::from)
            }
            End::Retry {
                error,
                status,
                mut release,
            } => self.retry_later(&mut release, error, status).await,
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

    async fn drive(&self) -> Result<End, JobError> {
        let mut copy: Option<Release> = None;
        loop {
            if self.stopping() {
                return Ok(End::Stopped);
            }
            if self.is_lost() {
                return Ok(End::Lost);
            }
            let release = match copy.as_mut() {
                Some(release) => release,
                None => match store::load(&self.state.db, self.id()).await? {
                    Some(release) => copy.insert(release),
                    // Deleted with its project; the outbox row went with it.
                    None => return Ok(End::Finished),
                },
            };
            let flow = match machine::decide(release, db::now()) {
                Step::Done => {
                    store::settle(&self.state.db, &self.claim, OutboxWrite::Done).await?;
                    return Ok(End::Finished);
                }
                Step::WaitUntil(until) => return Ok(End::Waiting(until)),
                Step::Fail(change) | Step::Record(change) | Step::Expire(change) => {
                    self.change(release, change).await?
                }
                Step::Start(trigger) => self.start(release, trigger).await?,
                Step::Follow(follow) => self.follow(release, &follow).await?,
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

    /// Makes `change` with its timeline event if the release is still where the change
    /// expects it, and keeps the job's copy in step; else the release is read again.
    async fn change(&self, release: &mut Release, change: Change) -> Result<Flow, JobError> {
        let now = db::now();
        let mut tx = self.state.db.begin().await?;
        let Some(seq) = store::apply(&mut tx, self.id(), &change, now).await? else {
            tx.rollback().await?;
            if let Change::Started { trigger, id } = &change {
                // Cancelled meanwhile: its id was saved, for the record; nothing more.
                tracing::info!(release_id = self.id(), started = %id, trigger = ?trigger, "started on SleakOps for a release that changed meanwhile");
            }
            return Ok(Flow::Reload);
        };
        store::settle(&mut *tx, &self.claim, change.outbox()).await?;
        self.commit_with(tx, seq, change.event(release)).await?;
        match &change {
            Change::Failed { reason, .. } => {
                tracing::info!(release_id = self.id(), reason = %reason, "release failed")
            }
            Change::NeedsAttention { reason, .. } => {
                tracing::warn!(release_id = self.id(), reason = %reason, "release needs attention")
            }
            Change::Deployed { .. } => tracing::info!(release_id = self.id(), "release deployed"),
            _ => {}
        }
        release.apply(&change, now);
        Ok(match change.outbox() {
            OutboxWrite::Done => Flow::End(End::Finished),
            OutboxWrite::Progressed | OutboxWrite::Nothing => Flow::Moved,
        })
    }

    /// Records a failed attempt: the release waits (with a timeline note) and is tried again
    /// after a growing delay, or fails once the attempts are used up.
    async fn retry_later(
        &self,
        release: &mut Release,
        error: SleakOpsError,
        status: ReleaseStatus,
    ) -> Result<(), JobError> {
        let config = self.config();
        let attempts =
            match machine::retry(status, self.claim.attempts, config.max_attempts, &error) {
                Retry::Wait { attempts } => attempts,
                Retry::GiveUp(change) => return self.change(release, change).await.map(drop),
            };
        let backoff = Backoff::new(config.retry_base, config.retry_max).equal_jitter(attempts - 1);
        let delay = machine::wait(&error, backoff);
        let note = machine::waiting(status, &error, delay, attempts, config.max_attempts);
        tracing::info!(release_id = self.id(), attempts, delay_ms = delay.as_millis() as u64, error = %error, "release waits for SleakOps");
        let mut tx = self.state.db.begin().await?;
        // The release row first, then the outbox row: the order cancelling locks them in.
        let seq = store::apply(&mut tx, self.id(), &note, db::now()).await?;
        store::reschedule(&mut tx, &self.claim, attempts, delay, &error.to_string()).await?;
        match seq {
            Some(seq) => self.commit_with(tx, seq, note.event(release)).await,
            None => Ok(tx.commit().await?),
        }
    }

    /// Starts `trigger` on SleakOps: writes its mark, confirms the claim, sends it, saves
    /// SleakOps' id, and moves the release on, or fails it or has it wait, as the outcome
    /// requires.
    async fn start(&self, release: &mut Release, trigger: Trigger) -> Result<Flow, JobError> {
        let now = db::now();
        if !store::mark(&self.state.db, self.id(), &trigger, now).await? {
            return Ok(Flow::Reload);
        }
        if let Some(end) = self.still_ours().await? {
            // Nothing was sent: another task may trigger it.
            store::unmark(&self.state.db, self.id(), &trigger, now).await?;
            tracing::info!(release_id = self.id(), trigger = ?trigger, end = ?end, "mark cleared unsent");
            return Ok(Flow::End(end));
        }
        release.marked(&trigger, now);
        let sent = match &trigger {
            Trigger::Build => {
                let request = build_request(release);
                self.sleakops.create_build(&request).await.map(|b| b.id)
            }
            Trigger::Deployment { build, .. } => {
                let request = deployment_request(release, build);
                self.sleakops
                    .create_deployment(&request)
                    .await
                    .map(|d| d.id)
            }
        };
        let error = match self.noted(sent) {
            Ok(id) => {
                store::save_id(&self.state.db, self.id(), &trigger, &id).await?;
                return self.change(release, Change::Started { trigger, id }).await;
            }
            Err(error) => error,
        };
        match trigger.unsent(release, &error) {
            Unsent::KeepMarkAndFail(change) => self.change(release, change).await,
            Unsent::ClearMarkAndFail(change) => {
                store::unmark(&self.state.db, self.id(), &trigger, now).await?;
                self.change(release, change).await
            }
            Unsent::ClearMarkAndWait => {
                store::unmark(&self.state.db, self.id(), &trigger, now).await?;
                Ok(self.wait(release, error, trigger.from()))
            }
        }
    }

    /// Whether the job may send a trigger now: `None` when it still holds its claim (renewed
    /// for a whole lease, so no other task takes the release while SleakOps answers), else
    /// how the job ends.
    async fn still_ours(&self) -> Result<Option<End>, JobError> {
        if self.stopping() {
            return Ok(Some(End::Stopped));
        }
        let held = !self.is_lost()
            && store::renew(&self.state.db, &self.claim, self.config().lease).await?;
        Ok((!held).then_some(End::Lost))
    }

    fn wait(&self, release: &Release, error: SleakOpsError, status: ReleaseStatus) -> Flow {
        Flow::End(End::Retry {
            error,
            status,
            release: Box::new(release.clone()),
        })
    }

    /// Polls a SleakOps build or deployment until it succeeds, fails, can no longer be
    /// followed, or outlives the follow deadline, noting each new state on the timeline.
    async fn follow(&self, release: &mut Release, follow: &Follow) -> Result<Flow, JobError> {
        let mut delay = self.config().status_poll;
        let mut announced = None;
        // A request time is always stored before the trigger; now is the fallback for rows
        // older than that rule.
        let since = follow.requested(release).unwrap_or_else(db::now);
        loop {
            let answer = match follow {
                Follow::Build(id) => self.sleakops.build(id).await.map(Report::from),
                Follow::Deployment(id) => self.sleakops.deployment(id).await.map(Report::from),
            };
            match follow.polled(release, self.noted(answer), announced.as_ref()) {
                Polled::Ended(change) => return self.change(release, change).await,
                Polled::Wait(error) => return Ok(self.wait(release, error, follow.status())),
                Polled::Running { state, note } => {
                    if let Some(note) = note {
                        // A note the release moved past meanwhile is simply not written.
                        self.change(release, note).await?;
                    }
                    let deadline = self.config().follow_deadline;
                    if let Some(change) =
                        follow.overdue(release, since, db::now(), deadline, &state)
                    {
                        return self.change(release, change).await;
                    }
                    announced = Some(state);
                }
            }
            match self.pause(delay).await {
                Woke::Timer => {}
                Woke::Stop => return Ok(Flow::End(End::Stopped)),
                Woke::Lost => return Ok(Flow::End(End::Lost)),
            }
            delay = machine::next_poll(delay, self.config().status_poll_max);
        }
    }
}

fn build_request(release: &Release) -> BuildRequest {
    BuildRequest {
        project_env: ProjectEnv {
            project_name: release.sleakops_project.clone(),
            environment_name: None,
        },
        branch: release.branch.clone(),
        commit: release.commit_sha.clone(),
        tag: release.tag.clone(),
        environment: Some(release.sleakops_environment.clone()),
    }
}

fn deployment_request(release: &Release, build: &ResourceId) -> DeploymentRequest {
    DeploymentRequest {
        project_env: ProjectEnv {
            project_name: release.sleakops_project.clone(),
            environment_name: Some(release.sleakops_environment.clone()),
        },
        build: Some(build.clone()),
        image: None,
        tag: release.tag.clone(),
    }
}
