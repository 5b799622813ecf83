//! The release worker's state machine, without I/O. From the job's copy of a release
//! ([`Release`]), [`decide`] picks the next [`Step`]; what SleakOps answers is turned into a
//! [`Change`] of the release (its status, its marks, its timeline event and what becomes of
//! the outbox row), which the loop in [`super::job`] writes with [`super::store`] and then
//! applies to its copy with [`Release::apply`]. Every sentence the worker writes on a
//! timeline is here, whole.

use crate::releases::{approval, timeline::NewEvent};
use chrono::{DateTime, Utc};
use faro_sleakops::{Build, Deployment, ResourceId, SleakOpsError, State};
use faro_types::{BRANCH_HEAD, EventKind, ReleaseStatus, short_commit};
use std::time::Duration;

/// Longest failure reason stored (the column is TEXT; the UI shows a paragraph).
const MAX_REASON: usize = 2000;

/// The job's copy of a release: where it is and what has been asked of SleakOps so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub status: ReleaseStatus,
    pub branch: String,
    /// The full commit, the timeline shows its first seven characters; `None`: the branch's
    /// head.
    pub commit_sha: Option<String>,
    pub tag: Option<String>,
    /// SleakOps' ids of what it started for the release.
    pub build: Option<ResourceId>,
    pub deployment: Option<ResourceId>,
    /// Written before the build is triggered: once set, the build may have started.
    pub build_requested_at: Option<DateTime<Utc>>,
    pub built_at: Option<DateTime<Utc>>,
    /// Written before the deployment is triggered, as `build_requested_at`.
    pub deployment_requested_at: Option<DateTime<Utc>>,
    pub sleakops_project: String,
    pub sleakops_environment: String,
    /// Faro's name of the environment.
    pub environment: String,
    pub requested_at: DateTime<Utc>,
    /// Set when the release was requested to wait for approval until then.
    pub approval_expires_at: Option<DateTime<Utc>>,
    /// The release whose build this one deploys as is (a promotion or a rollback): its
    /// `build` and `built_at` are set when it is queued, and it is never built.
    pub build_of: Option<u64>,
}

/// What the job does next with a release.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The release is final: only its outbox row is left to close.
    Done,
    /// SleakOps' id was saved when the trigger answered, but the release was not moved on
    /// (what followed failed, DynamoDB or MySQL): the start is recorded now, then followed.
    Record(Change),
    Start(Trigger),
    Follow(Follow),
    /// The stored state cannot be continued safely (a [`Change::Failed`]).
    Fail(Change),
    /// The release waited for approval past its expiry: [`Change::Expired`].
    Expire(Change),
    /// The release waits for approval until then: the row is handed back, due at that time,
    /// and nothing is triggered.
    WaitUntil(DateTime<Utc>),
}

/// Something the job starts on SleakOps.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Build,
    /// `of`: the release `build` was made for, when it is another one (the release deploys
    /// that build as is, straight from queued).
    Deployment {
        build: ResourceId,
        of: Option<u64>,
    },
}

/// Something started on SleakOps that the job polls until it ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Follow {
    Build(ResourceId),
    Deployment(ResourceId),
}

/// A change of the release that appends one timeline event. Each is written only if the
/// release is still where the change expects it ([`Change::from`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// SleakOps started `trigger` as `id`: the release moves on and keeps the id.
    Started {
        trigger: Trigger,
        id: ResourceId,
    },
    /// The build succeeded (`built_at`); the release stays building. `commit` is the one
    /// SleakOps reports it built, recorded if the release has none (a branch head's).
    Built {
        build: ResourceId,
        commit: Option<String>,
    },
    Deployed {
        deployment: ResourceId,
    },
    Failed {
        from: ReleaseStatus,
        reason: String,
    },
    /// The build or deployment outlived the follow deadline: Faro stops following it and a
    /// person checks SleakOps (`reason` names the ids).
    NeedsAttention {
        from: ReleaseStatus,
        reason: String,
    },
    /// A note on the timeline; the release stays as it is.
    Noted {
        status: ReleaseStatus,
        message: String,
    },
    /// Nobody approved the release before its approval expired: it ends `expired`.
    Expired,
}

/// What a change of the release does to its outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxWrite {
    /// The release moved on: earlier failures are forgotten.
    Progressed,
    /// The release is final: the row is done.
    Done,
    Nothing,
}

/// Why a trigger was not sent, and what that leaves the job to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Unsent {
    /// SleakOps may have acted on it: the mark stays, so nothing starts twice, and the
    /// release fails.
    KeepMarkAndFail(Change),
    /// SleakOps certainly did not act on it and will not if asked again.
    ClearMarkAndFail(Change),
    /// SleakOps certainly did not act on it but may later: the next attempt sends it again.
    ClearMarkAndWait,
}

/// What one poll of a build or deployment answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub state: State,
    pub errors: Vec<String>,
    /// Builds only: the commit SleakOps built.
    pub commit: Option<String>,
}

impl From<Build> for Report {
    fn from(build: Build) -> Self {
        Self {
            state: build.state,
            errors: build.errors,
            commit: build.commit,
        }
    }
}

impl From<Deployment> for Report {
    fn from(deployment: Deployment) -> Self {
        Self {
            state: deployment.state,
            errors: deployment.errors,
            commit: None,
        }
    }
}

/// What one poll of a build or deployment says.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    /// It ended, and the release changes accordingly.
    Ended(Change),
    /// Still running in `state`; `note` is set when that state is news for the timeline.
    Running { state: State, note: Option<Change> },
    /// SleakOps could not be asked just now.
    Wait(SleakOpsError),
}

/// What a failed attempt to use SleakOps leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    /// Wait, and try again as attempt number `attempts`.
    Wait {
        attempts: u32,
    },
    GiveUp(Change),
}

/// The next step for `release` at `now`, from its stored state alone (see the table in
/// [`super::job`]).
pub fn decide(release: &Release, now: DateTime<Utc>) -> Step {
    let status = release.status;
    let fail = |reason| Step::Fail(Change::failed(status, reason));
    match status {
        ReleaseStatus::Deployed
        | ReleaseStatus::Failed
        | ReleaseStatus::Cancelled
        | ReleaseStatus::NeedsAttention
        | ReleaseStatus::Rejected
        | ReleaseStatus::Expired => Step::Done,
        // Never triggered: only an approval (which queues it) lets it go on. A release
        // without an expiry cannot wait; it expires too.
        ReleaseStatus::AwaitingApproval => match release.approval_expires_at {
            Some(until) if until > now => Step::WaitUntil(until),
            _ => Step::Expire(Change::Expired),
        },
        ReleaseStatus::Queued => match (release.build_of, &release.build, release.built_at) {
            (Some(of), Some(build), Some(_)) => deploy(release, build, Some(of)),
            (Some(of), _, _) => fail(format!(
                "The release deploys the build of release #{of} but has no built SleakOps build \
                 to deploy; retry it."
            )),
            (None, _, _) => build(release),
        },
        ReleaseStatus::Building => match (&release.build, release.built_at, &release.deployment) {
            (None, _, _) => {
                fail("The release is building but has no SleakOps build id; retry it.".into())
            }
            (Some(build), None, None) => Step::Follow(Follow::Build(build.clone())),
            (Some(build), _, _) => deploy(release, build, None),
        },
        ReleaseStatus::Deploying => match &release.deployment {
            Some(deployment) => Step::Follow(Follow::Deployment(deployment.clone())),
            None => {
                fail("The release is deploying but has no SleakOps deployment id; retry it.".into())
            }
        },
    }
}

/// The next step of a queued release that is built for itself.
fn build(release: &Release) -> Step {
    match (&release.build, release.build_requested_at) {
        (Some(build), _) => Step::Record(Change::Started {
            trigger: Trigger::Build,
            id: build.clone(),
        }),
        (None, Some(_)) => Step::Fail(Change::failed(
            release.status,
            format!(
                "A worker stopped while starting the build on SleakOps, so it is unknown \
                 whether the build started. Faro does not start it again by itself, so nothing \
                 is built twice: check SleakOps for a build of {} and retry this release.",
                release.branch
            ),
        )),
        (None, None) => Step::Start(Trigger::Build),
    }
}

/// The next step of a release whose `build` (made for release `of`, when another one) has
/// succeeded: its deployment, started at most once.
fn deploy(release: &Release, build: &ResourceId, of: Option<u64>) -> Step {
    let trigger = Trigger::Deployment {
        build: build.clone(),
        of,
    };
    match (&release.deployment, release.deployment_requested_at) {
        (Some(deployment), _) => Step::Record(Change::Started {
            trigger,
            id: deployment.clone(),
        }),
        (None, None) => Step::Start(trigger),
        (None, Some(_)) => Step::Fail(Change::failed(
            release.status,
            format!(
                "A worker stopped while starting the deployment of build {build} on \
                 SleakOps, so it is unknown whether it started. Faro does not start it \
                 again by itself, so nothing is deployed twice: check SleakOps for a \
                 deployment to {} and retry this release.",
                release.sleakops_environment
            ),
        )),
    }
}

impl Trigger {
    /// The status the release must have for the trigger to be sent.
    pub fn from(&self) -> ReleaseStatus {
        match self {
            Self::Build | Self::Deployment { of: Some(_), .. } => ReleaseStatus::Queued,
            Self::Deployment { of: None, .. } => ReleaseStatus::Building,
        }
    }

    /// The status once SleakOps started it.
    pub fn to(&self) -> ReleaseStatus {
        match self {
            Self::Build => ReleaseStatus::Building,
            Self::Deployment { .. } => ReleaseStatus::Deploying,
        }
    }

    /// What the job does when SleakOps did not start it (after the mark was written).
    pub fn unsent(&self, release: &Release, err: &SleakOpsError) -> Unsent {
        let fail = |reason| Change::failed(self.from(), reason);
        if err.is_outcome_unknown() {
            let reason = match self {
                Self::Build => format!(
                    "SleakOps may or may not have started the build: {err}. Faro does not \
                     start it again by itself, so nothing is built twice: check SleakOps for a \
                     build of {} and retry this release.",
                    release.branch
                ),
                Self::Deployment { build, .. } => format!(
                    "SleakOps may or may not have started the deployment of build {build}: \
                     {err}. Faro does not start it again by itself, so nothing is deployed \
                     twice: check SleakOps for a deployment to {} and retry this release.",
                    release.sleakops_environment
                ),
            };
            return Unsent::KeepMarkAndFail(fail(reason));
        }
        if !permanent(err) {
            return Unsent::ClearMarkAndWait;
        }
        let reason = match self {
            Self::Build => format!("SleakOps refused to start the build: {err}"),
            Self::Deployment { build, .. } => {
                format!("SleakOps refused to deploy build {build}: {err}")
            }
        };
        Unsent::ClearMarkAndFail(fail(reason))
    }
}

impl Follow {
    /// The release's status while it is followed.
    pub fn status(&self) -> ReleaseStatus {
        match self {
            Self::Build(_) => ReleaseStatus::Building,
            Self::Deployment(_) => ReleaseStatus::Deploying,
        }
    }

    /// When what is followed was asked of SleakOps: the follow deadline counts from there,
    /// whichever task follows it.
    pub fn requested(&self, release: &Release) -> Option<DateTime<Utc>> {
        match self {
            Self::Build(_) => release.build_requested_at,
            Self::Deployment(_) => release.deployment_requested_at,
        }
    }

    /// The change that hands the release to a person once it has run `deadline` since
    /// `since` (last seen in `state`), if it has.
    pub fn overdue(
        &self,
        release: &Release,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        deadline: Duration,
        state: &State,
    ) -> Option<Change> {
        let ran = (now - since).to_std().unwrap_or_default();
        if ran < deadline {
            return None;
        }
        let ran = span(deadline);
        let reason = match self {
            Self::Build(id) => format!(
                "Build {id} has not finished on SleakOps {ran} after it was started (it was \
                 {state}). Faro stopped following it, so it no longer holds a worker: check \
                 build {id} of project {} on SleakOps, stop it there if it is stuck, and retry \
                 this release.",
                release.sleakops_project
            ),
            Self::Deployment(id) => format!(
                "Deployment {id} to {} has not finished on SleakOps {ran} after it was \
                 started (it was {state}). Faro stopped following it, so it no longer holds a \
                 worker: check deployment {id} (build {}) on SleakOps. If it finished, it is \
                 live although Faro does not show it deployed; if it is stuck, stop it there \
                 and retry this release.",
                release.sleakops_environment,
                release.build.as_ref().map_or("unknown", ResourceId::as_str)
            ),
        };
        Some(Change::NeedsAttention {
            from: self.status(),
            reason: clip(reason),
        })
    }

    /// Reads one poll's answer (`state` and errors), given the state last `announced`.
    pub fn polled(
        &self,
        release: &Release,
        answer: Result<Report, SleakOpsError>,
        announced: Option<&State>,
    ) -> Polled {
        let fail = |reason| Polled::Ended(Change::failed(self.status(), reason));
        let Report {
            state,
            errors,
            commit,
        } = match answer {
            Ok(answer) => answer,
            Err(SleakOpsError::NotFound { .. }) => {
                return fail(match self {
                    Self::Build(id) => {
                        format!("SleakOps no longer knows build {id}; retry the release.")
                    }
                    Self::Deployment(id) => {
                        format!("SleakOps no longer knows deployment {id}; retry the release.")
                    }
                });
            }
            Err(err) if permanent(&err) => {
                return fail(match self {
                    Self::Build(id) => format!("Build {id} cannot be followed on SleakOps: {err}"),
                    Self::Deployment(id) => {
                        format!("Deployment {id} cannot be followed on SleakOps: {err}")
                    }
                });
            }
            Err(err) => return Polled::Wait(err),
        };
        match state {
            State::Created => Polled::Ended(match self {
                Self::Build(build) => Change::Built {
                    build: build.clone(),
                    commit,
                },
                Self::Deployment(deployment) => Change::Deployed {
                    deployment: deployment.clone(),
                },
            }),
            State::Error => fail(match self {
                Self::Build(id) => {
                    format!("Build {id} failed on SleakOps: {}", errors_text(&errors))
                }
                Self::Deployment(id) => format!(
                    "Deployment {id} to {} failed on SleakOps: {}",
                    release.sleakops_environment,
                    errors_text(&errors)
                ),
            }),
            state => {
                let news = state != State::Initial && announced != Some(&state);
                let note = news.then(|| Change::Noted {
                    status: self.status(),
                    message: match self {
                        Self::Build(id) => format!("Build {id} is {state} on SleakOps"),
                        Self::Deployment(id) => format!("Deployment {id} is {state} on SleakOps"),
                    },
                });
                Polled::Running { state, note }
            }
        }
    }
}

/// The wait before the next poll: half as long again, up to `max`.
pub fn next_poll(delay: Duration, max: Duration) -> Duration {
    (delay * 3 / 2).min(max)
}

impl Change {
    /// The release fails from `from` for `reason` (cut to what the failure column keeps).
    pub fn failed(from: ReleaseStatus, reason: String) -> Self {
        Self::Failed {
            from,
            reason: clip(reason),
        }
    }

    /// The status the release must have for the change to apply.
    pub fn from(&self) -> ReleaseStatus {
        match self {
            Self::Started { trigger, .. } => trigger.from(),
            Self::Built { .. } => ReleaseStatus::Building,
            Self::Deployed { .. } => ReleaseStatus::Deploying,
            Self::Failed { from, .. } | Self::NeedsAttention { from, .. } => *from,
            Self::Noted { status, .. } => *status,
            Self::Expired => ReleaseStatus::AwaitingApproval,
        }
    }

    /// The status the release has after the change.
    pub fn to(&self) -> ReleaseStatus {
        match self {
            Self::Started { trigger, .. } => trigger.to(),
            Self::Deployed { .. } => ReleaseStatus::Deployed,
            Self::Failed { .. } => ReleaseStatus::Failed,
            Self::NeedsAttention { .. } => ReleaseStatus::NeedsAttention,
            Self::Expired => ReleaseStatus::Expired,
            Self::Built { .. } | Self::Noted { .. } => self.from(),
        }
    }

    /// What the change does to the release's outbox row, in the same transaction.
    pub fn outbox(&self) -> OutboxWrite {
        match self {
            Self::Started { .. } | Self::Built { .. } => OutboxWrite::Progressed,
            Self::Deployed { .. }
            | Self::Failed { .. }
            | Self::NeedsAttention { .. }
            | Self::Expired => OutboxWrite::Done,
            Self::Noted { .. } => OutboxWrite::Nothing,
        }
    }

    /// The timeline event that tells of the change.
    pub fn event(&self, release: &Release) -> NewEvent {
        let (kind, message) = match self {
            Self::Started {
                trigger: Trigger::Build,
                id,
            } => (
                EventKind::BuildStarted,
                format!(
                    "Build {id} started on SleakOps: {} at {} of project {}",
                    release.branch,
                    short_commit(release.commit_sha.as_deref()),
                    release.sleakops_project
                ),
            ),
            Self::Started {
                trigger: Trigger::Deployment { build, of },
                id,
            } => (
                EventKind::DeploymentStarted,
                format!(
                    "Deployment {id} of build {build}{} to {} started on SleakOps",
                    of.map(|of| format!(" (the build of release #{of})"))
                        .unwrap_or_default(),
                    release.sleakops_environment
                ),
            ),
            Self::Built { build, commit } => (
                EventKind::BuildSucceeded,
                // The release's own commit wins: one the user gave is never replaced.
                match release.commit_sha.as_deref().or(commit.as_deref()) {
                    Some(sha) => format!(
                        "Build {build} succeeded on SleakOps (commit {} of {})",
                        short_commit(Some(sha)),
                        release.branch
                    ),
                    None => format!(
                        "Build {build} succeeded on SleakOps ({BRANCH_HEAD}; SleakOps reported \
                         no commit)"
                    ),
                },
            ),
            Self::Deployed { deployment } => (
                EventKind::Deployed,
                format!(
                    "Deployed to {} (deployment {deployment})",
                    release.environment
                ),
            ),
            Self::Failed { reason, .. } => (EventKind::Failed, reason.clone()),
            Self::NeedsAttention { reason, .. } => (EventKind::NeedsAttention, reason.clone()),
            Self::Noted { message, .. } => (EventKind::Progress, message.clone()),
            Self::Expired => (
                EventKind::Expired,
                approval::expired_message(
                    release.requested_at,
                    release.approval_expires_at.unwrap_or(release.requested_at),
                ),
            ),
        };
        NewEvent::new(kind, self.to(), message)
    }
}

impl Release {
    /// Records on the copy that `trigger`'s mark was written at `at`.
    pub fn marked(&mut self, trigger: &Trigger, at: DateTime<Utc>) {
        match trigger {
            Trigger::Build => self.build_requested_at = Some(at),
            Trigger::Deployment { .. } => self.deployment_requested_at = Some(at),
        }
    }

    /// Records on the copy that `change` was written at `at`.
    pub fn apply(&mut self, change: &Change, at: DateTime<Utc>) {
        match change {
            Change::Started {
                trigger: Trigger::Build,
                id,
            } => self.build = Some(id.clone()),
            Change::Started {
                trigger: Trigger::Deployment { .. },
                id,
            } => self.deployment = Some(id.clone()),
            Change::Built { commit, .. } => {
                self.built_at = Some(at);
                if self.commit_sha.is_none() {
                    self.commit_sha.clone_from(commit);
                }
            }
            Change::Deployed { .. }
            | Change::Failed { .. }
            | Change::NeedsAttention { .. }
            | Change::Noted { .. }
            | Change::Expired => {}
        }
        self.status = change.to();
    }
}

/// After attempt number `previous + 1` failed with `error`: wait, or give up once
/// `max_attempts` are used.
pub fn retry(
    status: ReleaseStatus,
    previous: u32,
    max_attempts: u32,
    error: &SleakOpsError,
) -> Retry {
    let attempts = previous + 1;
    if attempts < max_attempts {
        return Retry::Wait { attempts };
    }
    Retry::GiveUp(Change::failed(
        status,
        format!(
            "SleakOps could not be used after {attempts} attempts; the last error: {error}. \
             Retry the release once SleakOps is back."
        ),
    ))
}

/// How long to wait after `error`: the `backoff`, or longer if SleakOps asked for it.
pub fn wait(error: &SleakOpsError, backoff: Duration) -> Duration {
    backoff.max(error.retry_after().unwrap_or_default())
}

/// The timeline note of a release waiting `delay` for attempt `attempts` of `max_attempts`.
pub fn waiting(
    status: ReleaseStatus,
    error: &SleakOpsError,
    delay: Duration,
    attempts: u32,
    max_attempts: u32,
) -> Change {
    Change::Noted {
        status,
        message: format!(
            "Waiting for SleakOps: {error}. Trying again in {} s (attempt {attempts} of \
             {max_attempts}).",
            delay.as_secs().max(1)
        ),
    }
}

/// SleakOps said no in a way waiting will not change.
pub fn permanent(err: &SleakOpsError) -> bool {
    !err.is_transient()
        && !matches!(
            err,
            // An owner of the organization can set a new key while the release waits.
            SleakOpsError::Unauthorized | SleakOpsError::Forbidden { .. }
        )
}

fn clip(mut reason: String) -> String {
    if reason.chars().count() > MAX_REASON {
        reason = reason.chars().take(MAX_REASON - 1).collect();
        reason.push('…');
    }
    reason
}

/// A deadline as a person reads it: whole minutes, or seconds below one.
fn span(deadline: Duration) -> String {
    match deadline.as_secs() {
        secs if secs < 60 => format!("{secs} s"),
        secs => format!("{} min", secs / 60),
    }
}

fn errors_text(errors: &[String]) -> String {
    if errors.is_empty() {
        "SleakOps reported no details".to_owned()
    } else {
        errors.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReleaseStatus::{
        AwaitingApproval, Building, Cancelled, Deployed, Deploying, Expired, Failed,
        NeedsAttention, Queued, Rejected,
    };

    fn build() -> ResourceId {
        ResourceId::new("b-1")
    }

    /// Deploying build b-1 of the release itself (not another release's).
    fn deploy_build() -> Trigger {
        Trigger::Deployment {
            build: build(),
            of: None,
        }
    }

    fn deployment() -> ResourceId {
        ResourceId::new("d-1")
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("a time")
    }

    /// A release of `main` to `production` (SleakOps: project `shop`, environment
    /// `shop-prod`) with `status` and nothing asked of SleakOps yet.
    fn release(status: ReleaseStatus) -> Release {
        Release {
            status,
            branch: "main".into(),
            commit_sha: Some("0123456789abcdef".into()),
            tag: None,
            build: None,
            deployment: None,
            build_requested_at: None,
            built_at: None,
            deployment_requested_at: None,
            sleakops_project: "shop".into(),
            sleakops_environment: "shop-prod".into(),
            environment: "production".into(),
            requested_at: at(),
            approval_expires_at: None,
            build_of: None,
        }
    }

    /// Which of the five marks a stored release carries.
    #[derive(Debug, Clone, Copy)]
    struct Marks {
        build: bool,
        build_requested: bool,
        built: bool,
        deployment_requested: bool,
        deployment: bool,
    }

    /// All 32 combinations of the marks.
    fn every_marks() -> impl Iterator<Item = Marks> {
        (0..32u8).map(|bits| Marks {
            build: bits & 1 != 0,
            build_requested: bits & 2 != 0,
            built: bits & 4 != 0,
            deployment_requested: bits & 8 != 0,
            deployment: bits & 16 != 0,
        })
    }

    fn stored(status: ReleaseStatus, marks: Marks) -> Release {
        Release {
            build: marks.build.then(build),
            build_requested_at: marks.build_requested.then(at),
            built_at: marks.built.then(at),
            deployment_requested_at: marks.deployment_requested.then(at),
            deployment: marks.deployment.then(deployment),
            ..release(status)
        }
    }

    /// Asserts `expected` for every stored release with `status` whose marks match `rule`.
    /// The rules of the `decide` tests below partition all 9 × 32 combinations (awaiting
    /// approval decides by its expiry instead).
    fn decides(status: ReleaseStatus, rule: impl Fn(Marks) -> bool, expected: &Step) {
        decides_of(None, status, rule, expected);
    }

    /// As [`decides`], for releases that deploy the build of release `build_of` (when set);
    /// the queued rules with `Some` partition the 32 combinations too.
    fn decides_of(
        build_of: Option<u64>,
        status: ReleaseStatus,
        rule: impl Fn(Marks) -> bool,
        expected: &Step,
    ) {
        let mut matched = 0;
        for marks in every_marks().filter(|m| rule(*m)) {
            let release = Release {
                build_of,
                ..stored(status, marks)
            };
            assert_eq!(
                &decide(&release, at()),
                expected,
                "{status:?} {marks:?} build_of={build_of:?}"
            );
            matched += 1;
        }
        assert!(matched > 0, "the rule matches some combination");
    }

    fn failure(from: ReleaseStatus, reason: &str) -> Step {
        Step::Fail(Change::Failed {
            from,
            reason: reason.into(),
        })
    }

    #[test]
    fn a_final_release_is_done_whatever_it_carries() {
        for status in [
            Deployed,
            Failed,
            Cancelled,
            NeedsAttention,
            Rejected,
            Expired,
        ] {
            decides(status, |_| true, &Step::Done);
        }
    }

    /// A release awaiting approval until `until`, carrying `marks`.
    fn awaiting(marks: Marks, until: DateTime<Utc>) -> Release {
        Release {
            approval_expires_at: Some(until),
            ..stored(AwaitingApproval, marks)
        }
    }

    /// A promotion or rollback: release 7's build, queued with its id and `built_at`.
    const SOURCE: Option<u64> = Some(7);

    fn deploy_source() -> Trigger {
        Trigger::Deployment {
            build: build(),
            of: SOURCE,
        }
    }

    #[test]
    fn a_release_awaiting_approval_is_handed_back_until_its_expiry_and_never_triggered() {
        let until = at() + chrono::Duration::seconds(1);
        for marks in every_marks() {
            assert_eq!(
                decide(&awaiting(marks, until), at()),
                Step::WaitUntil(until),
                "{marks:?}"
            );
        }
    }

    #[test]
    fn a_release_awaiting_approval_expires_once_its_expiry_has_come() {
        for marks in every_marks() {
            for until in [at(), at() - chrono::Duration::seconds(1)] {
                assert_eq!(
                    decide(&awaiting(marks, until), at()),
                    Step::Expire(Change::Expired),
                    "{marks:?}"
                );
            }
        }
        let without_expiry = release(AwaitingApproval);
        assert_eq!(decide(&without_expiry, at()), Step::Expire(Change::Expired));
    }

    #[test]
    fn an_expiry_ends_the_release_closes_its_outbox_row_and_says_how_long_it_waited() {
        let change = Change::Expired;
        assert_eq!(
            (change.from(), change.to(), change.outbox()),
            (AwaitingApproval, Expired, OutboxWrite::Done)
        );
        let mut copy = awaiting(every_marks().next().expect("marks"), at());
        copy.requested_at = at() - chrono::Duration::hours(24);
        let event = change.event(&copy);
        assert_eq!(
            (event.kind, event.status, event.message.as_str()),
            (
                EventKind::Expired,
                Expired,
                "Nobody approved the release within 24 h; it expired. Request it again to \
                 deploy."
            )
        );
        copy.apply(&change, at());
        assert!(copy.status.is_final());
        assert_eq!(decide(&copy, at()), Step::Done);
    }

    #[test]
    fn a_queued_release_of_another_releases_build_starts_its_deployment_without_building() {
        decides_of(
            SOURCE,
            Queued,
            |m| m.build && m.built && !m.deployment_requested && !m.deployment,
            &Step::Start(deploy_source()),
        );
        assert_eq!(deploy_source().from(), Queued, "sent from queued");
        assert_eq!(deploy_source().to(), Deploying);
    }

    #[test]
    fn a_queued_release_of_another_releases_build_with_a_deployment_id_records_its_start() {
        decides_of(
            SOURCE,
            Queued,
            |m| m.build && m.built && m.deployment,
            &Step::Record(Change::Started {
                trigger: deploy_source(),
                id: deployment(),
            }),
        );
    }

    #[test]
    fn a_queued_release_of_another_releases_build_whose_deployment_was_requested_fails_rather_than_deploy_twice()
     {
        decides_of(
            SOURCE,
            Queued,
            |m| m.build && m.built && m.deployment_requested && !m.deployment,
            &failure(
                Queued,
                "A worker stopped while starting the deployment of build b-1 on SleakOps, so it \
                 is unknown whether it started. Faro does not start it again by itself, so \
                 nothing is deployed twice: check SleakOps for a deployment to shop-prod and \
                 retry this release.",
            ),
        );
    }

    #[test]
    fn a_queued_release_of_another_releases_build_without_that_build_fails() {
        decides_of(
            SOURCE,
            Queued,
            |m| !m.build || !m.built,
            &failure(
                Queued,
                "The release deploys the build of release #7 but has no built SleakOps build to \
                 deploy; retry it.",
            ),
        );
    }

    #[test]
    fn the_deployment_of_another_releases_build_is_told_with_that_release() {
        let change = Change::Started {
            trigger: deploy_source(),
            id: deployment(),
        };
        assert_eq!(
            told(change),
            (
                EventKind::DeploymentStarted,
                Deploying,
                "Deployment d-1 of build b-1 (the build of release #7) to shop-prod started on \
                 SleakOps"
                    .into()
            )
        );
    }

    #[test]
    fn a_queued_release_with_a_build_id_records_that_the_build_started() {
        let record = Step::Record(Change::Started {
            trigger: Trigger::Build,
            id: build(),
        });
        decides(Queued, |m| m.build, &record);
    }

    #[test]
    fn a_queued_release_whose_build_was_requested_without_an_answer_fails_rather_than_build_twice()
    {
        let reason = "A worker stopped while starting the build on SleakOps, so it is unknown \
                      whether the build started. Faro does not start it again by itself, so \
                      nothing is built twice: check SleakOps for a build of main and retry this \
                      release.";
        decides(
            Queued,
            |m| !m.build && m.build_requested,
            &failure(Queued, reason),
        );
    }

    #[test]
    fn a_queued_release_without_a_build_id_or_request_starts_its_build() {
        let start = Step::Start(Trigger::Build);
        decides(Queued, |m| !m.build && !m.build_requested, &start);
    }

    #[test]
    fn a_building_release_without_a_build_id_fails() {
        let reason = "The release is building but has no SleakOps build id; retry it.";
        decides(Building, |m| !m.build, &failure(Building, reason));
    }

    #[test]
    fn a_building_release_with_a_deployment_id_records_that_the_deployment_started() {
        let record = Step::Record(Change::Started {
            trigger: deploy_build(),
            id: deployment(),
        });
        decides(Building, |m| m.build && m.deployment, &record);
    }

    #[test]
    fn a_follow_is_overdue_only_once_the_deadline_has_passed_since_the_request() {
        let follow = Follow::Build(build());
        let copy = release(Building);
        let deadline = Duration::from_secs(7200);
        let since = at();
        let before = since + chrono::Duration::seconds(7199);
        let creating = State::Creating;
        assert_eq!(
            follow.overdue(&copy, since, before, deadline, &creating),
            None
        );
        let after = since + chrono::Duration::seconds(7200);
        assert_eq!(
            follow.overdue(&copy, since, after, deadline, &creating),
            Some(Change::NeedsAttention {
                from: Building,
                reason: "Build b-1 has not finished on SleakOps 120 min after it was started \
                         (it was creating). Faro stopped following it, so it no longer holds a \
                         worker: check build b-1 of project shop on SleakOps, stop it there if \
                         it is stuck, and retry this release."
                    .into()
            })
        );
    }

    #[test]
    fn an_overdue_deployment_names_its_build_and_what_a_person_should_check() {
        let mut copy = release(Deploying);
        copy.build = Some(build());
        let change = Follow::Deployment(deployment())
            .overdue(
                &copy,
                at(),
                at() + chrono::Duration::seconds(5),
                Duration::from_secs(3),
                &State::Initial,
            )
            .expect("overdue");
        assert_eq!(change.from(), Deploying);
        assert_eq!(change.to(), NeedsAttention);
        assert_eq!(change.outbox(), OutboxWrite::Done);
        let event = change.event(&copy);
        assert_eq!(event.kind, EventKind::NeedsAttention);
        assert_eq!(
            event.message,
            "Deployment d-1 to shop-prod has not finished on SleakOps 3 s after it was started \
             (it was initial). Faro stopped following it, so it no longer holds a worker: check \
             deployment d-1 (build b-1) on SleakOps. If it finished, it is live although Faro \
             does not show it deployed; if it is stuck, stop it there and retry this release."
        );
    }

    #[test]
    fn the_follow_deadline_counts_from_the_request_of_what_is_followed() {
        let mut copy = release(Building);
        copy.build_requested_at = Some(at());
        copy.deployment_requested_at = Some(at() + chrono::Duration::seconds(60));
        assert_eq!(Follow::Build(build()).requested(&copy), Some(at()));
        assert_eq!(
            Follow::Deployment(deployment()).requested(&copy),
            copy.deployment_requested_at
        );
    }

    #[test]
    fn a_building_release_whose_build_has_not_succeeded_follows_the_build() {
        let follow = Step::Follow(Follow::Build(build()));
        decides(Building, |m| m.build && !m.built && !m.deployment, &follow);
    }

    #[test]
    fn a_built_release_starts_the_deployment_of_its_build() {
        let start = Step::Start(deploy_build());
        let built = |m: Marks| m.build && m.built && !m.deployment;
        decides(Building, |m| built(m) && !m.deployment_requested, &start);
    }

    #[test]
    fn a_built_release_whose_deployment_was_requested_without_an_answer_fails_rather_than_deploy_twice()
     {
        let reason = "A worker stopped while starting the deployment of build b-1 on SleakOps, \
                      so it is unknown whether it started. Faro does not start it again by \
                      itself, so nothing is deployed twice: check SleakOps for a deployment to \
                      shop-prod and retry this release.";
        let built = |m: Marks| m.build && m.built && !m.deployment;
        decides(
            Building,
            |m| built(m) && m.deployment_requested,
            &failure(Building, reason),
        );
    }

    #[test]
    fn a_deploying_release_follows_its_deployment() {
        let follow = Step::Follow(Follow::Deployment(deployment()));
        decides(Deploying, |m| m.deployment, &follow);
    }

    #[test]
    fn a_deploying_release_without_a_deployment_id_fails() {
        let reason = "The release is deploying but has no SleakOps deployment id; retry it.";
        decides(Deploying, |m| !m.deployment, &failure(Deploying, reason));
    }

    #[test]
    fn a_started_build_moves_the_copy_to_building_and_the_job_follows_it_next() {
        let mut copy = release(Queued);
        copy.marked(&Trigger::Build, at());
        copy.apply(
            &Change::Started {
                trigger: Trigger::Build,
                id: build(),
            },
            at(),
        );
        assert_eq!(copy.status, Building);
        assert_eq!(decide(&copy, at()), Step::Follow(Follow::Build(build())));
    }

    #[test]
    fn a_succeeded_build_leads_to_the_deployment_of_that_build() {
        let mut copy = stored(
            Building,
            every_marks()
                .find(|m| m.build && !m.built && !m.deployment_requested && !m.deployment)
                .expect("marks"),
        );
        copy.apply(
            &Change::Built {
                build: build(),
                commit: None,
            },
            at(),
        );
        assert_eq!(copy.status, Building);
        assert_eq!(copy.built_at, Some(at()));
        assert_eq!(decide(&copy, at()), Step::Start(deploy_build()));
    }

    #[test]
    fn a_started_deployment_moves_the_copy_to_deploying_and_the_job_follows_it_next() {
        let mut copy = release(Building);
        copy.build = Some(build());
        copy.built_at = Some(at());
        let trigger = deploy_build();
        copy.marked(&trigger, at());
        copy.apply(
            &Change::Started {
                trigger,
                id: deployment(),
            },
            at(),
        );
        assert_eq!(copy.status, Deploying);
        assert_eq!(
            decide(&copy, at()),
            Step::Follow(Follow::Deployment(deployment()))
        );
    }

    #[test]
    fn a_mark_left_by_a_worker_that_died_mid_trigger_makes_the_next_one_fail_instead_of_resending()
    {
        let mut queued = release(Queued);
        queued.marked(&Trigger::Build, at());
        assert!(matches!(
            decide(&queued, at()),
            Step::Fail(Change::Failed { from: Queued, .. })
        ));

        let mut built = release(Building);
        built.build = Some(build());
        built.built_at = Some(at());
        built.marked(&deploy_build(), at());
        assert!(matches!(
            decide(&built, at()),
            Step::Fail(Change::Failed { from: Building, .. })
        ));
    }

    #[test]
    fn a_deployed_or_failed_release_is_final_and_closes_its_outbox_row() {
        let ends = [
            Change::Deployed {
                deployment: deployment(),
            },
            Change::failed(Deploying, "Deployment d-1 failed".into()),
        ];
        for change in ends {
            let mut copy = release(Deploying);
            copy.deployment = Some(deployment());
            copy.apply(&change, at());
            assert!(copy.status.is_final(), "{change:?}");
            assert_eq!(decide(&copy, at()), Step::Done);
            assert_eq!(change.outbox(), OutboxWrite::Done);
        }
    }

    #[test]
    fn progress_forgets_earlier_failures_and_a_note_leaves_the_outbox_row_alone() {
        let started = Change::Started {
            trigger: Trigger::Build,
            id: build(),
        };
        assert_eq!(started.outbox(), OutboxWrite::Progressed);
        assert_eq!(
            Change::Built {
                build: build(),
                commit: None
            }
            .outbox(),
            OutboxWrite::Progressed
        );
        let note = Change::Noted {
            status: Building,
            message: "Build b-1 is creating on SleakOps".into(),
        };
        assert_eq!(note.outbox(), OutboxWrite::Nothing);
    }

    #[test]
    fn each_change_applies_only_from_the_status_it_expects_and_says_where_it_leads() {
        let cases = [
            (
                Change::Started {
                    trigger: Trigger::Build,
                    id: build(),
                },
                Queued,
                Building,
            ),
            (
                Change::Started {
                    trigger: deploy_build(),
                    id: deployment(),
                },
                Building,
                Deploying,
            ),
            (
                Change::Built {
                    build: build(),
                    commit: None,
                },
                Building,
                Building,
            ),
            (
                Change::Deployed {
                    deployment: deployment(),
                },
                Deploying,
                Deployed,
            ),
            (Change::failed(Queued, "no".into()), Queued, Failed),
            (
                Change::Noted {
                    status: Deploying,
                    message: "note".into(),
                },
                Deploying,
                Deploying,
            ),
        ];
        for (change, from, to) in cases {
            assert_eq!((change.from(), change.to()), (from, to), "{change:?}");
        }
    }

    fn told(change: Change) -> (EventKind, ReleaseStatus, String) {
        let event = change.event(&release(change.from()));
        (event.kind, event.status, event.message)
    }

    #[test]
    fn a_started_build_is_told_with_its_branch_short_commit_and_project() {
        let change = Change::Started {
            trigger: Trigger::Build,
            id: build(),
        };
        assert_eq!(
            told(change),
            (
                EventKind::BuildStarted,
                Building,
                "Build b-1 started on SleakOps: main at 0123456 of project shop".into()
            )
        );
    }

    /// A release of `main`'s head: no commit given.
    fn branch_head() -> Release {
        Release {
            commit_sha: None,
            ..release(Building)
        }
    }

    const REPORTED: &str = "fedcba9876543210fedcba9876543210fedcba98";

    fn built(commit: Option<&str>) -> Change {
        Change::Built {
            build: build(),
            commit: commit.map(str::to_owned),
        }
    }

    #[test]
    fn a_branch_heads_build_is_started_at_the_branch_head() {
        let change = Change::Started {
            trigger: Trigger::Build,
            id: build(),
        };
        assert_eq!(
            change.event(&branch_head()).message,
            "Build b-1 started on SleakOps: main at branch head of project shop"
        );
    }

    #[test]
    fn a_branch_heads_build_records_and_tells_the_commit_sleakops_reports() {
        let change = built(Some(REPORTED));
        assert_eq!(
            change.event(&branch_head()).message,
            "Build b-1 succeeded on SleakOps (commit fedcba9 of main)"
        );
        let mut copy = branch_head();
        copy.apply(&change, at());
        assert_eq!(copy.commit_sha.as_deref(), Some(REPORTED));
        assert_eq!(copy.built_at, Some(at()));
    }

    #[test]
    fn a_branch_head_stays_so_when_sleakops_reports_no_commit() {
        let change = built(None);
        assert_eq!(
            change.event(&branch_head()).message,
            "Build b-1 succeeded on SleakOps (branch head; SleakOps reported no commit)"
        );
        let mut copy = branch_head();
        copy.apply(&change, at());
        assert_eq!(copy.commit_sha, None);
    }

    #[test]
    fn a_commit_the_user_gave_is_never_replaced_by_the_reported_one() {
        let change = built(Some(REPORTED));
        assert_eq!(
            change.event(&release(Building)).message,
            "Build b-1 succeeded on SleakOps (commit 0123456 of main)"
        );
        let mut copy = release(Building);
        copy.apply(&change, at());
        assert_eq!(copy.commit_sha.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn a_created_build_carries_the_commit_sleakops_reports() {
        let report = Report {
            state: State::Created,
            errors: vec![],
            commit: Some(REPORTED.into()),
        };
        assert_eq!(
            Follow::Build(build()).polled(&branch_head(), Ok(report), None),
            Polled::Ended(built(Some(REPORTED)))
        );
    }

    #[test]
    fn a_started_deployment_is_told_with_its_build_and_sleakops_environment() {
        let change = Change::Started {
            trigger: deploy_build(),
            id: deployment(),
        };
        assert_eq!(
            told(change),
            (
                EventKind::DeploymentStarted,
                Deploying,
                "Deployment d-1 of build b-1 to shop-prod started on SleakOps".into()
            )
        );
    }

    #[test]
    fn a_succeeded_build_and_a_deployment_are_told_as_such() {
        assert_eq!(
            told(Change::Built {
                build: build(),
                commit: None
            }),
            (
                EventKind::BuildSucceeded,
                Building,
                "Build b-1 succeeded on SleakOps (commit 0123456 of main)".into()
            )
        );
        assert_eq!(
            told(Change::Deployed {
                deployment: deployment()
            }),
            (
                EventKind::Deployed,
                Deployed,
                "Deployed to production (deployment d-1)".into()
            )
        );
    }

    #[test]
    fn a_failure_and_a_note_are_told_in_their_own_words() {
        assert_eq!(
            told(Change::failed(Building, "It broke.".into())),
            (EventKind::Failed, Failed, "It broke.".into())
        );
        let note = Change::Noted {
            status: Deploying,
            message: "Deployment d-1 is creating on SleakOps".into(),
        };
        assert_eq!(
            told(note),
            (
                EventKind::Progress,
                Deploying,
                "Deployment d-1 is creating on SleakOps".into()
            )
        );
    }

    #[test]
    fn a_long_failure_reason_is_cut_to_what_the_column_keeps() {
        let Change::Failed { reason, .. } = Change::failed(Queued, "x".repeat(MAX_REASON + 1))
        else {
            unreachable!()
        };
        assert_eq!(reason.chars().count(), MAX_REASON);
        assert!(reason.ends_with("x…"));
        let fits = "é".repeat(MAX_REASON);
        assert_eq!(
            Change::failed(Queued, fits.clone()),
            Change::Failed {
                from: Queued,
                reason: fits
            }
        );
    }

    fn outcome_unknown() -> SleakOpsError {
        SleakOpsError::OutcomeUnknown {
            operation: "started it",
            detail: "connection reset".into(),
        }
    }

    fn bad_request() -> SleakOpsError {
        SleakOpsError::BadRequest {
            reason: "no such branch".into(),
        }
    }

    fn unavailable() -> SleakOpsError {
        SleakOpsError::Unavailable {
            status: 503,
            retry_after: None,
        }
    }

    fn unsent_failure(trigger: &Trigger, status: ReleaseStatus, err: &SleakOpsError) -> Unsent {
        let mut copy = release(status);
        copy.build = Some(build());
        trigger.unsent(&copy, err)
    }

    #[test]
    fn a_trigger_whose_outcome_is_unknown_keeps_its_mark_and_fails_the_release() {
        let err = outcome_unknown();
        assert_eq!(
            unsent_failure(&Trigger::Build, Queued, &err),
            Unsent::KeepMarkAndFail(Change::failed(
                Queued,
                format!(
                    "SleakOps may or may not have started the build: {err}. Faro does not start \
                     it again by itself, so nothing is built twice: check SleakOps for a build \
                     of main and retry this release."
                )
            ))
        );
        assert_eq!(
            unsent_failure(&deploy_build(), Building, &err),
            Unsent::KeepMarkAndFail(Change::failed(
                Building,
                format!(
                    "SleakOps may or may not have started the deployment of build b-1: {err}. \
                     Faro does not start it again by itself, so nothing is deployed twice: \
                     check SleakOps for a deployment to shop-prod and retry this release."
                )
            ))
        );
    }

    #[test]
    fn a_trigger_sleakops_refused_for_good_clears_its_mark_and_fails_the_release() {
        let err = bad_request();
        assert_eq!(
            unsent_failure(&Trigger::Build, Queued, &err),
            Unsent::ClearMarkAndFail(Change::failed(
                Queued,
                format!("SleakOps refused to start the build: {err}")
            ))
        );
        assert_eq!(
            unsent_failure(&deploy_build(), Building, &err),
            Unsent::ClearMarkAndFail(Change::failed(
                Building,
                format!("SleakOps refused to deploy build b-1: {err}")
            ))
        );
    }

    #[test]
    fn a_trigger_sleakops_could_not_take_just_now_clears_its_mark_and_waits() {
        let errors = [
            unavailable(),
            SleakOpsError::RateLimited { retry_after: None },
            SleakOpsError::Connection {
                detail: "refused".into(),
            },
            SleakOpsError::CircuitOpen {
                retry_in: Duration::from_secs(5),
            },
        ];
        for err in errors {
            assert_eq!(
                unsent_failure(&Trigger::Build, Queued, &err),
                Unsent::ClearMarkAndWait,
                "{err}"
            );
        }
    }

    #[test]
    fn a_rejected_api_key_has_the_release_wait_for_an_owner_to_set_another() {
        let errors = [
            SleakOpsError::Unauthorized,
            SleakOpsError::Forbidden {
                reason: "read only".into(),
            },
        ];
        for err in errors {
            assert!(!permanent(&err), "{err}");
            assert_eq!(
                unsent_failure(&deploy_build(), Building, &err),
                Unsent::ClearMarkAndWait,
                "{err}"
            );
        }
    }

    fn poll(
        follow: &Follow,
        answer: Result<(State, Vec<String>), SleakOpsError>,
        announced: Option<&State>,
    ) -> Polled {
        let answer = answer.map(|(state, errors)| Report {
            state,
            errors,
            commit: None,
        });
        follow.polled(&release(follow.status()), answer, announced)
    }

    #[test]
    fn a_created_build_or_deployment_ends_in_its_success() {
        assert_eq!(
            poll(&Follow::Build(build()), Ok((State::Created, vec![])), None),
            Polled::Ended(Change::Built {
                build: build(),
                commit: None
            })
        );
        assert_eq!(
            poll(
                &Follow::Deployment(deployment()),
                Ok((State::Created, vec![])),
                None
            ),
            Polled::Ended(Change::Deployed {
                deployment: deployment()
            })
        );
    }

    #[test]
    fn an_errored_build_or_deployment_fails_the_release_with_what_sleakops_reported() {
        let errors = vec!["tests failed".to_owned(), "exit 1".to_owned()];
        assert_eq!(
            poll(&Follow::Build(build()), Ok((State::Error, errors)), None),
            Polled::Ended(Change::failed(
                Building,
                "Build b-1 failed on SleakOps: tests failed; exit 1".into()
            ))
        );
        assert_eq!(
            poll(
                &Follow::Deployment(deployment()),
                Ok((State::Error, vec![])),
                None
            ),
            Polled::Ended(Change::failed(
                Deploying,
                "Deployment d-1 to shop-prod failed on SleakOps: SleakOps reported no details"
                    .into()
            ))
        );
    }

    #[test]
    fn a_running_state_is_noted_once_when_it_is_new() {
        let follow = Follow::Deployment(deployment());
        assert_eq!(
            poll(&follow, Ok((State::Creating, vec![])), None),
            Polled::Running {
                state: State::Creating,
                note: Some(Change::Noted {
                    status: Deploying,
                    message: "Deployment d-1 is creating on SleakOps".into()
                })
            }
        );
        assert_eq!(
            poll(
                &follow,
                Ok((State::Creating, vec![])),
                Some(&State::Creating)
            ),
            Polled::Running {
                state: State::Creating,
                note: None
            }
        );
        let other = State::Other("queued".into());
        assert_eq!(
            poll(
                &Follow::Build(build()),
                Ok((other.clone(), vec![])),
                Some(&State::Creating)
            ),
            Polled::Running {
                state: other,
                note: Some(Change::Noted {
                    status: Building,
                    message: "Build b-1 is queued on SleakOps".into()
                })
            }
        );
    }

    #[test]
    fn the_initial_state_is_not_worth_a_note() {
        assert_eq!(
            poll(&Follow::Build(build()), Ok((State::Initial, vec![])), None),
            Polled::Running {
                state: State::Initial,
                note: None
            }
        );
    }

    #[test]
    fn a_build_or_deployment_sleakops_no_longer_knows_fails_the_release() {
        let gone = || SleakOpsError::NotFound {
            what: "such thing".into(),
        };
        assert_eq!(
            poll(&Follow::Build(build()), Err(gone()), None),
            Polled::Ended(Change::failed(
                Building,
                "SleakOps no longer knows build b-1; retry the release.".into()
            ))
        );
        assert_eq!(
            poll(&Follow::Deployment(deployment()), Err(gone()), None),
            Polled::Ended(Change::failed(
                Deploying,
                "SleakOps no longer knows deployment d-1; retry the release.".into()
            ))
        );
    }

    #[test]
    fn a_poll_sleakops_refuses_for_good_fails_the_release() {
        let err = bad_request();
        assert_eq!(
            poll(&Follow::Build(build()), Err(err.clone()), None),
            Polled::Ended(Change::failed(
                Building,
                format!("Build b-1 cannot be followed on SleakOps: {err}")
            ))
        );
        assert_eq!(
            poll(&Follow::Deployment(deployment()), Err(err.clone()), None),
            Polled::Ended(Change::failed(
                Deploying,
                format!("Deployment d-1 cannot be followed on SleakOps: {err}")
            ))
        );
    }

    #[test]
    fn a_poll_sleakops_could_not_answer_just_now_waits() {
        assert_eq!(
            poll(&Follow::Build(build()), Err(unavailable()), None),
            Polled::Wait(unavailable())
        );
        assert_eq!(
            poll(
                &Follow::Deployment(deployment()),
                Err(SleakOpsError::Unauthorized),
                None
            ),
            Polled::Wait(SleakOpsError::Unauthorized)
        );
    }

    #[test]
    fn polls_slow_down_by_half_up_to_the_maximum() {
        let max = Duration::from_secs(20);
        assert_eq!(
            next_poll(Duration::from_secs(2), max),
            Duration::from_secs(3)
        );
        assert_eq!(next_poll(Duration::from_secs(16), max), max);
    }

    #[test]
    fn a_failed_attempt_waits_while_attempts_are_left_and_then_fails_the_release() {
        let err = unavailable();
        assert_eq!(retry(Building, 0, 3, &err), Retry::Wait { attempts: 1 });
        assert_eq!(retry(Building, 1, 3, &err), Retry::Wait { attempts: 2 });
        assert_eq!(
            retry(Building, 2, 3, &err),
            Retry::GiveUp(Change::failed(
                Building,
                format!(
                    "SleakOps could not be used after 3 attempts; the last error: {err}. Retry \
                     the release once SleakOps is back."
                )
            ))
        );
    }

    #[test]
    fn a_wait_lasts_at_least_as_long_as_sleakops_asked() {
        let backoff = Duration::from_secs(2);
        let asked = SleakOpsError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(wait(&asked, backoff), Duration::from_secs(30));
        assert_eq!(wait(&unavailable(), backoff), backoff);
    }

    #[test]
    fn the_waiting_note_counts_the_attempts_and_whole_seconds_of_at_least_one() {
        let err = unavailable();
        assert_eq!(
            waiting(Queued, &err, Duration::from_millis(300), 1, 5),
            Change::Noted {
                status: Queued,
                message: format!(
                    "Waiting for SleakOps: {err}. Trying again in 1 s (attempt 1 of 5)."
                )
            }
        );
    }
}
