//! Changing a release's course: cancel one that has not finished, retry one that failed or
//! was cancelled. Transitions the status does not allow are 409.

use super::{
    approval,
    create::{self, Linked, Plan},
    idempotency, query, store,
    store::NewRelease,
    timeline::{self, NewEvent},
};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::releases::ReleasePath;
use crate::{
    audit::Entry,
    auth::Caller,
    db::Read,
    error::ApiError,
    write::{Lock, ProjectWrite},
};
use axum::{Json, extract::Path, http::HeaderMap, response::Response};
use faro_types::{EventKind, Release, ReleaseStatus, Role, UserRef, short_commit};

fn not_cancellable(id: u64, status: ReleaseStatus) -> ApiError {
    ApiError::Conflict {
        detail: format!(
            "Release {id} is {}; only releases awaiting approval, queued, building or \
             deploying can be cancelled.",
            status.as_str()
        ),
        field: Some("status".into()),
    }
}

/// Cancel a release that has not finished. Its pending outbox work is dropped.
///
/// Problems, beyond what their status says:
/// - 403: Cancelling needs the maintainer role; of a release to a production environment that
///   does not require approval, a project owner or an organization owner or admin.
/// - 409: The release already finished; the detail names its status.
/// - 503: DynamoDB or MySQL is unavailable; nothing changed.
#[utoipa::path(
    post, path = "/api/releases/{id}/cancel", tag = "releases",
    params(ReleasePath),
    responses(
        (status = 200, description = "The release, now cancelled", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn cancel(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
) -> Result<Json<Release>, ApiError> {
    let Caller { state, user, .. } = &caller;
    let access = query::access(state, user, id).await?;
    access.require(Role::Maintainer)?;

    let mut write = ProjectWrite::begin(&caller, &access, Lock::Caller, Role::Maintainer).await?;
    let environment = store::environment_of(write.tx(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let rule = store::release_rule(write.tx(), environment).await?;
    approval::require_to_release(write.access(), rule, "cancel a release to")?;
    let (status, _) = store::progress(write.tx(), id, Read::ForUpdate)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !status.can_cancel() {
        return Err(not_cancellable(id, status));
    }
    let work = store::sleakops_work(write.tx(), id)
        .await?
        .unwrap_or_default();
    let dropped = store::cancel(write.tx(), id, crate::db::now()).await?;
    let event = NewEvent::new(
        EventKind::Cancelled,
        ReleaseStatus::Cancelled,
        cancelled(&user.name, &work),
    )
    .by(UserRef {
        id: user.id,
        name: user.name.clone(),
    });
    let event = timeline::append(state, write.tx(), id, event).await?;
    write.publish(id, event);
    write
        .commit(
            Entry::new("release.cancel", format!("release:{id}")).details(format!(
                "status={} -> cancelled; outbox rows dropped={dropped}",
                status.as_str()
            )),
        )
        .await?;
    let (_, release) = store::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(release))
}

/// The timeline's account of a cancel by `who`: what keeps running on SleakOps. SleakOps'
/// API has no call that stops a build or a deployment (see docs/architecture.md), so Faro
/// only stops following them and says so.
fn cancelled(who: &str, work: &store::SleakOpsWork) -> String {
    match work {
        store::SleakOpsWork {
            deployment: Some(deployment),
            ..
        } => format!(
            "{who} cancelled the release, but the deployment continues on SleakOps: deployment \
             {deployment} was already running and SleakOps cannot stop it from Faro. Check it \
             on SleakOps."
        ),
        store::SleakOpsWork {
            deployment_requested: true,
            ..
        } => format!(
            "{who} cancelled the release while its deployment was being started: if SleakOps \
             started it, the deployment continues on SleakOps, which cannot stop it from Faro. \
             Check it on SleakOps."
        ),
        store::SleakOpsWork {
            build: Some(build), ..
        } => format!(
            "{who} cancelled the release. Build {build} continues on SleakOps, but Faro will \
             not deploy it."
        ),
        store::SleakOpsWork {
            build_requested: true,
            ..
        } => format!(
            "{who} cancelled the release while its build was being started: it may continue \
             on SleakOps, but Faro will not deploy it."
        ),
        _ => format!("{who} cancelled the release"),
    }
}

/// Retry a failed or cancelled release: a new release of the same commit to the same
/// environment, linked to this one by `retry_of`.
///
/// Problems, beyond what their status says:
/// - 403: Retrying needs the maintainer role; to a production environment that does not
///   require approval, a project owner or an organization owner or admin.
/// - 409: The release is not failed or cancelled (the detail names its status), or a request with the same Idempotency-Key is still being processed.
/// - 422: The Idempotency-Key is missing, malformed or was used for a different request, or the organization has no SleakOps API key (field `environment`).
/// - 503: DynamoDB or MySQL is unavailable; nothing was recorded.
#[utoipa::path(
    post, path = "/api/releases/{id}/retry", tag = "releases",
    params(
        ReleasePath,
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1–255 visible ASCII characters, unique per retry you mean to make; a repeat answers with the same new release"),
    ),
    responses(
        (status = 201, description = "The new release, queued", body = Release,
            headers(("Location" = String, description = "The new release's URL"))),
        (status = 200, description = "A repeat of an earlier retry with this Idempotency-Key: the release it created", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn retry(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Caller { state, user, .. } = &caller;
    let access = query::access(state, user, id).await?;
    access.require(Role::Maintainer)?;
    let key = idempotency::key_and_body(&headers, Ok(()))?;
    let hash = idempotency::request_hash(&["retry", &id.to_string()]);

    let source = store::retry_source(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let store::RetrySource {
        commit,
        environment,
        status,
        sleakops_build_id,
        build_of,
        promoted_from,
        rollback_of,
    } = source;
    // A promotion or a rollback deploys the same build again, without building.
    let build = build_of.and(sleakops_build_id);
    let message = format!(
        "{} retried release #{id}: {} ({}) to {environment}",
        user.name,
        commit.branch,
        short_commit(commit.commit_sha.as_deref())
    );
    let plan = Plan {
        new: NewRelease {
            project_id: access.project_id,
            commit,
            requested_by: user.id,
            requested_at: crate::db::now(),
            retry_of: Some(id),
            promoted_from,
            rollback_of,
            build_of: build.as_ref().and(build_of),
            build,
            approval_expires_at: None,
        },
        message,
        linked: Some(Linked {
            release: id,
            kind: EventKind::Retried,
            said: format!("{} retried this release", user.name),
        }),
        action: "release.retry",
        details: format!("retry_of={id}"),
    };
    // Checked again under the row lock in the transaction; this answers most cases early.
    if !status.can_retry() {
        return Err(create::not_retryable(id, status));
    }
    create::needs_sleakops_key(state, &access).await?;
    let (code, release) = create::run(&caller, &access, &key, &hash, &plan).await?;
    Ok(create::respond(code, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(build: bool, deployment_requested: bool, deployment: bool) -> store::SleakOpsWork {
        store::SleakOpsWork {
            build: build.then(|| "12".to_owned()),
            build_requested: build,
            deployment: deployment.then(|| "34".to_owned()),
            deployment_requested,
        }
    }

    #[test]
    fn a_cancel_during_a_running_deployment_says_the_deployment_continues_on_sleakops() {
        assert_eq!(
            cancelled("Ada", &work(true, true, true)),
            "Ada cancelled the release, but the deployment continues on SleakOps: deployment 34 \
             was already running and SleakOps cannot stop it from Faro. Check it on SleakOps."
        );
        let starting = cancelled("Ada", &work(true, true, false));
        assert!(
            starting.contains("the deployment continues on SleakOps"),
            "{starting}"
        );
    }

    #[test]
    fn a_cancel_during_the_build_says_the_build_continues_but_is_not_deployed() {
        assert_eq!(
            cancelled("Ada", &work(true, false, false)),
            "Ada cancelled the release. Build 12 continues on SleakOps, but Faro will not \
             deploy it."
        );
        assert_eq!(
            cancelled("Ada", &work(false, false, false)),
            "Ada cancelled the release"
        );
    }
}
