//! The two-person rule: who may request a release to an environment, and the decision on a
//! release that waits for approval (`POST /api/releases/{id}/approve`, `…/reject`).
//!
//! A release to an environment that `requires_approval` is recorded `awaiting_approval`
//! with an outbox row due when the approval expires: the worker sees it only then (to
//! expire it) unless an approval makes the row due at once. Only a project owner or an
//! organization owner or admin other than the requester decides.

use super::{
    query,
    store::{self, Decision, ReleaseRule},
    timeline::{self, NewEvent},
};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::releases::ReleasePath;
use crate::{
    access::ProjectAccess,
    audit::Entry,
    auth::Caller,
    error::ApiError,
    http::ApiJson,
    write::{Lock, ProjectWrite},
};
use axum::{Json, extract::Path};
use chrono::{DateTime, SecondsFormat, Utc};
use faro_types::{EventKind, RejectRelease, Release, ReleaseStatus, Role, UserRef};

/// Refuses a request (`what`, such as "release to") the environment's rule does not allow
/// the caller: to an environment that requires approval a maintainer may request, since a
/// second person decides; else only owners may release to a production one. The one rule
/// every create, retry, promotion, rollback and cancel follows.
pub fn require_to_release(
    access: &ProjectAccess,
    rule: ReleaseRule,
    what: &str,
) -> Result<(), ApiError> {
    access.require(Role::Maintainer)?;
    if rule.requires_approval {
        return Ok(());
    }
    access.require_for_production(rule.production, what)
}

/// The second event of a release that waits for approval, after `requested`.
pub fn requested(requester: &str, expires_at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(
        EventKind::ApprovalRequested,
        ReleaseStatus::AwaitingApproval,
        format!(
            "Waiting for approval by a project owner or an organization owner or admin other \
             than {requester} until {}",
            expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    )
}

/// Approve a release that waits for approval: it is queued, and a worker builds and deploys
/// it at once.
///
/// Problems, beyond what their status says:
/// - 403: Deciding needs a project owner or an organization owner or admin, and not the
///   release's requester.
/// - 409: The release is not awaiting approval (the detail names its status, field
///   `status`), or its approval expired (it is now `expired`).
/// - 503: DynamoDB or MySQL is unavailable; nothing changed.
#[utoipa::path(
    post, path = "/api/releases/{id}/approve", tag = "releases",
    params(ReleasePath),
    responses(
        (status = 200, description = "The release, now queued", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn approve(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
) -> Result<Json<Release>, ApiError> {
    decide(&caller, id, Verdict::Approve).await
}

/// Reject a release that waits for approval, saying why: it ends `rejected` and nothing is
/// built.
///
/// Problems, beyond what their status says:
/// - 403: Deciding needs a project owner or an organization owner or admin, and not the
///   release's requester.
/// - 409: The release is not awaiting approval (the detail names its status, field
///   `status`), or its approval expired (it is now `expired`).
/// - 422: The reason is missing, blank or longer than 500 characters.
/// - 503: DynamoDB or MySQL is unavailable; nothing changed.
#[utoipa::path(
    post, path = "/api/releases/{id}/reject", tag = "releases",
    params(ReleasePath),
    request_body = RejectRelease,
    responses(
        (status = 200, description = "The release, now rejected", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn reject(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    ApiJson(request): ApiJson<RejectRelease>,
) -> Result<Json<Release>, ApiError> {
    request.validate().map_err(ApiError::Validation)?;
    let reason = request.reason.trim();
    decide(&caller, id, Verdict::Reject { reason }).await
}

#[derive(Debug, Clone, Copy)]
enum Verdict<'a> {
    Approve,
    Reject { reason: &'a str },
}

impl Verdict<'_> {
    fn verb(&self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject { .. } => "reject",
        }
    }

    /// The audit entry's action.
    fn action(&self) -> &'static str {
        match self {
            Self::Approve => "release.approve",
            Self::Reject { .. } => "release.reject",
        }
    }
}

/// Records `verdict` on release `id` under its row lock, audited; an approval or rejection
/// that comes after the expiry expires the release instead (committed) and is refused.
async fn decide(caller: &Caller, id: u64, verdict: Verdict<'_>) -> Result<Json<Release>, ApiError> {
    let Caller { state, user, .. } = caller;
    let verb = verdict.verb();
    let access = query::access(state, user, id).await?;
    require_decider(&access, verb)?;
    let mut write = ProjectWrite::begin(caller, &access, Lock::Caller, Role::Viewer).await?;
    require_decider(write.access(), verb)?;
    let waiting = store::waiting(write.tx(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if waiting.status != ReleaseStatus::AwaitingApproval {
        return Err(ApiError::Conflict {
            detail: format!(
                "Release {id} is {}; only a release awaiting approval can be approved or \
                 rejected.",
                waiting.status.as_str()
            ),
            field: Some("status".into()),
        });
    }
    if waiting.requested_by == user.id {
        return Err(ApiError::forbidden(
            "You requested this release; approval must come from someone else: another \
             project owner or an organization owner or admin.",
        ));
    }
    let actor = UserRef {
        id: user.id,
        name: user.name.clone(),
    };
    let now = crate::db::now();
    let expires_at = waiting.approval_expires_at.unwrap_or(now);
    let (decision, event, details) = if expires_at <= now {
        let expired = NewEvent::new(
            EventKind::Expired,
            ReleaseStatus::Expired,
            expired_message(waiting.requested_at, expires_at),
        );
        let details = format!(
            "refused: the approval expired at {expires_at}; status awaiting_approval -> expired"
        );
        (Decision::Expired, expired, details)
    } else {
        match verdict {
            Verdict::Approve => (
                Decision::Approved,
                NewEvent::new(
                    EventKind::Approved,
                    ReleaseStatus::Queued,
                    format!("{} approved the release", user.name),
                )
                .by(actor.clone()),
                "status awaiting_approval -> queued".to_owned(),
            ),
            Verdict::Reject { reason } => (
                Decision::Rejected { reason },
                NewEvent::new(
                    EventKind::Rejected,
                    ReleaseStatus::Rejected,
                    format!("{} rejected the release: {reason}", user.name),
                )
                .by(actor.clone()),
                format!("status awaiting_approval -> rejected; reason={reason}"),
            ),
        }
    };
    let by = (!matches!(decision, Decision::Expired)).then_some(user.id);
    let seq = store::decide(write.tx(), id, decision, by, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let event = timeline::append_numbered(state, id, seq, event).await?;
    write.publish(id, event);
    write
        .commit(Entry::new(verdict.action(), format!("release:{id}")).details(details))
        .await?;
    if matches!(decision, Decision::Expired) {
        return Err(ApiError::Conflict {
            detail: format!(
                "Release {id} waited for approval until {}, which has passed: it expired. \
                 Request it again to deploy.",
                expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            field: Some("status".into()),
        });
    }
    let (_, release) = store::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(release))
}

/// Refuses a decision (`verb`) to anyone below an owner (project owner, or organization
/// owner or admin).
fn require_decider(access: &ProjectAccess, verb: &str) -> Result<(), ApiError> {
    if access.role >= Role::Owner {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "Only a project owner or an organization owner or admin may {verb} a release; you are \
         a {}.",
        access.role.as_str()
    )))
}

/// What the timeline says of a release requested at `requested_at` that nobody approved
/// until `expires_at`.
pub fn expired_message(requested_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> String {
    let waited = (expires_at - requested_at).to_std().unwrap_or_default();
    format!(
        "Nobody approved the release within {}; it expired. Request it again to deploy.",
        wait_span(waited)
    )
}

/// A wait as a person reads it: whole hours, minutes or seconds.
fn wait_span(wait: std::time::Duration) -> String {
    match wait.as_secs() {
        secs if secs >= 3600 && secs.is_multiple_of(3600) => format!("{} h", secs / 3600),
        secs if secs >= 60 && secs.is_multiple_of(60) => format!("{} min", secs / 60),
        secs => format!("{secs} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expired_after(secs: i64) -> String {
        let requested = DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        expired_message(requested, requested + chrono::Duration::seconds(secs))
    }

    #[test]
    fn an_expiry_is_told_in_the_largest_whole_unit_of_the_wait() {
        assert_eq!(
            expired_after(86_400),
            "Nobody approved the release within 24 h; it expired. Request it again to deploy."
        );
        assert!(expired_after(90).contains("within 90 s"));
        assert!(expired_after(120).contains("within 2 min"));
    }
}
