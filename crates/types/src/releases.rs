use crate::{FieldError, validate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a release is in its life. `queued → building → deploying → deployed`, or `failed`
/// from any active state, or `cancelled` by a user before it finished, or `needs_attention`
/// when its build or deployment outlived the worker's follow deadline: Faro stopped following
/// it and a person must check SleakOps (`failure_reason` says what to check). A release to an
/// environment that requires approval starts `awaiting_approval` and becomes `queued` once a
/// second person approves it, or ends `rejected` or `expired`. A release that deploys an
/// existing build (a promotion or a rollback) goes from `queued` straight to `deploying`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    AwaitingApproval,
    Queued,
    Building,
    Deploying,
    Deployed,
    Failed,
    Cancelled,
    NeedsAttention,
    Rejected,
    Expired,
}

impl ReleaseStatus {
    pub const ALL: [Self; 10] = [
        Self::AwaitingApproval,
        Self::Queued,
        Self::Building,
        Self::Deploying,
        Self::Deployed,
        Self::Failed,
        Self::Cancelled,
        Self::NeedsAttention,
        Self::Rejected,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Queued => "queued",
            Self::Building => "building",
            Self::Deploying => "deploying",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::NeedsAttention => "needs_attention",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Finished releases never change status again. A release that needs attention is
    /// finished as far as Faro goes: nothing follows it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Deployed
                | Self::Failed
                | Self::Cancelled
                | Self::NeedsAttention
                | Self::Rejected
                | Self::Expired
        )
    }

    pub fn can_cancel(self) -> bool {
        !self.is_final()
    }

    /// A retry starts a new release from a failed or cancelled one, from one that needed
    /// attention once a person has settled its build or deployment on SleakOps, or from one
    /// whose approval expired unanswered (it asks again). A rejected release stays rejected.
    pub fn can_retry(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Cancelled | Self::NeedsAttention | Self::Expired
        )
    }
}

/// `POST /api/projects/{slug}/releases` (with an `Idempotency-Key` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    /// The environment's name within the project.
    pub environment: String,
    pub branch: String,
    /// The commit to build: 7–40 hexadecimal characters. Absent: the branch's head when
    /// SleakOps builds it (the release records that commit once SleakOps reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// When the commit was made; lead time counts from here when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<DateTime<Utc>>,
}

impl CreateRelease {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("environment", validate::slug(&self.environment))
            .check("branch", validate::branch(&self.branch))
            .check(
                "commit_sha",
                self.commit_sha.as_deref().and_then(validate::commit_sha),
            )
            .check("tag", self.tag.as_deref().and_then(validate::tag))
            .finish()
    }
}

/// What a release without a commit deploys, as people read it: the branch's head when
/// SleakOps built it.
pub const BRANCH_HEAD: &str = "branch head";

/// A commit as people recognise it: its first seven characters, or [`BRANCH_HEAD`].
pub fn short_commit(sha: Option<&str>) -> &str {
    match sha {
        Some(sha) => &sha[..sha.len().min(7)],
        None => BRANCH_HEAD,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRef {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    pub id: u64,
    /// The project's slug.
    pub project: String,
    /// The environment's name.
    pub environment: String,
    pub production: bool,
    pub branch: String,
    /// The commit deployed. `None` while a release of the branch's head waits for SleakOps
    /// to report which commit it built ("branch head").
    pub commit_sha: Option<String>,
    pub tag: Option<String>,
    pub commit_time: Option<DateTime<Utc>>,
    pub status: ReleaseStatus,
    pub sleakops_build_id: Option<String>,
    pub sleakops_deployment_id: Option<String>,
    pub requested_by: UserRef,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub notes: Option<String>,
    /// The release this one retries, if any.
    pub retry_of: Option<u64>,
    /// The release (in another environment) whose build this promotion deploys.
    pub promoted_from: Option<u64>,
    /// The releases that promoted this one's build to other environments, oldest first.
    pub promoted_to: Vec<u64>,
    /// The release that was running when this rollback replaced it.
    pub rollback_of: Option<u64>,
    /// The release whose SleakOps build this one deploys without building again (the source
    /// of a promotion, the target of a rollback).
    pub build_of: Option<u64>,
    /// Set when the environment required a second person's approval for this release.
    pub approval: Option<Approval>,
}

/// A release's approval: until when it may be given, and the decision once made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    /// Unanswered by then, the release ends `expired`.
    pub expires_at: DateTime<Utc>,
    pub decision: Option<ApprovalDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalDecision {
    /// Approved (the release went ahead) or rejected.
    pub approved: bool,
    pub by: UserRef,
    pub at: DateTime<Utc>,
    /// A rejection's reason.
    pub reason: Option<String>,
}

/// A rejection's reason.
pub const REJECTION_REASON: validate::Rule = validate::text(500);

/// `POST /api/releases/{id}/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RejectRelease {
    /// Why, for the requester: 1–500 characters, not only white space.
    pub reason: String,
}

impl RejectRelease {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "reason",
                validate::free_text(&self.reason, &REJECTION_REASON),
            )
            .finish()
    }
}

/// `POST /api/releases/{id}/promote` (with an `Idempotency-Key` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromoteRelease {
    /// The name of another environment of the release's project.
    pub environment: String,
}

impl PromoteRelease {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("environment", validate::slug(&self.environment))
            .finish()
    }
}

/// `POST /api/projects/{slug}/environments/{name}/rollback` (with an `Idempotency-Key`
/// header); the body may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollBack {
    /// The deployed release of this environment whose build to deploy again. Absent: the
    /// last one deployed before the release running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
}

/// What happened to a release; `#[serde(other)]` keeps older clients working when new kinds
/// appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Requested,
    BuildStarted,
    BuildSucceeded,
    DeploymentStarted,
    Deployed,
    Failed,
    Cancelled,
    Retried,
    Progress,
    /// The worker stopped following a build or deployment that outlived its deadline.
    NeedsAttention,
    /// The release waits for a second person's approval.
    ApprovalRequested,
    Approved,
    Rejected,
    /// Nobody answered the approval request in time.
    Expired,
    /// This release's build was promoted to another environment (the message names it).
    Promoted,
    /// A rollback replaced this release (the message names it).
    RolledBack,
    #[serde(other)]
    Other,
}

impl EventKind {
    pub const ALL: [Self; 17] = [
        Self::Requested,
        Self::BuildStarted,
        Self::BuildSucceeded,
        Self::DeploymentStarted,
        Self::Deployed,
        Self::Failed,
        Self::Cancelled,
        Self::Retried,
        Self::Progress,
        Self::NeedsAttention,
        Self::ApprovalRequested,
        Self::Approved,
        Self::Rejected,
        Self::Expired,
        Self::Promoted,
        Self::RolledBack,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::BuildStarted => "build_started",
            Self::BuildSucceeded => "build_succeeded",
            Self::DeploymentStarted => "deployment_started",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Retried => "retried",
            Self::Progress => "progress",
            Self::NeedsAttention => "needs_attention",
            Self::ApprovalRequested => "approval_requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Promoted => "promoted",
            Self::RolledBack => "rolled_back",
            Self::Other => "other",
        }
    }

    /// Like deserialization: kinds this build does not know are [`EventKind::Other`].
    pub fn parse(value: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == value)
            .unwrap_or(Self::Other)
    }
}

/// One entry of a release's timeline. `seq` increases along the timeline and is the
/// server-sent event id, so a stream resumes with `Last-Event-ID: <seq>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// The release's status after this event.
    pub status: ReleaseStatus,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<UserRef>,
}

/// The data of the `end` event a release's event stream sends before closing: the release
/// reached a final status and every event of its timeline was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamEnd {
    pub status: ReleaseStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_transitions_are_coherent() {
        for s in ReleaseStatus::ALL {
            assert_eq!(ReleaseStatus::parse(s.as_str()), Some(s));
            assert!(!(s.can_cancel() && s.can_retry()), "{s:?}");
        }
        assert!(ReleaseStatus::Building.can_cancel());
        assert!(!ReleaseStatus::Deployed.can_retry());
    }

    #[test]
    fn unknown_event_kinds_deserialize_as_other() {
        let kind: EventKind = serde_json::from_str("\"smoke_tested\"").expect("tolerated");
        assert_eq!(kind, EventKind::Other);
        assert_eq!(EventKind::parse("smoke_tested"), EventKind::Other);
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), k);
            assert_eq!(
                serde_json::to_value(k).expect("json"),
                serde_json::json!(k.as_str())
            );
        }
    }
}
