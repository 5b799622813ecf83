//! Deploying a build that already exists: promoting a deployed release's build to another
//! environment of its project, and rolling an environment back to a build it ran before.
//!
//! SleakOps builds per project and deploys any build id to any of the project's
//! environments, so neither builds again: the new release carries the build's id
//! (`build_of`, `build`) and the worker starts its deployment straight from queued. Both go
//! through [`create::run`] like a create: the same idempotency, approval and production
//! rules, and the source (or the release rolled back) is told on its timeline.

use super::{
    ReleasePath,
    create::{self, Linked, Plan},
    idempotency, query,
    store::{self, Commit, NewRelease, RetrySource},
};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::projects::{self, EnvironmentPath};
use crate::{
    access::{InProject, ProjectAccess},
    auth::Caller,
    error::ApiError,
    http::{ApiJson, OptionalJson},
};
use axum::{extract::Path, http::HeaderMap, response::Response};
use faro_types::{
    EventKind, PromoteRelease, Release, ReleaseStatus, Role, RollBack, RunningRelease, short_commit,
};

/// Deploy a deployed release's build to another environment of its project, without
/// building it again: a new release linked by `promoted_from`.
///
/// Problems, beyond what their status says:
/// - 403: Promoting needs the maintainer role; to a production environment, a project owner
///   or an organization owner or admin.
/// - 409: The release is not deployed or has no SleakOps build (field `status`), the project
///   has no environment of this name (field `environment`), or a request with the same
///   Idempotency-Key is still being processed.
/// - 422: Invalid fields, the release's own environment, an organization without a SleakOps
///   API key (field `environment`), or an Idempotency-Key that is missing, malformed or was
///   used for a different request.
/// - 503: DynamoDB or MySQL is unavailable; nothing was recorded.
#[utoipa::path(
    post, path = "/api/releases/{id}/promote", tag = "releases",
    params(
        ReleasePath,
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1–255 visible ASCII characters, unique per promotion you mean to make; a repeat with the same key and body answers with the same release"),
    ),
    request_body = PromoteRelease,
    responses(
        (status = 201, description = "The new release, queued (or awaiting approval)", body = Release,
            headers(("Location" = String, description = "The new release's URL"))),
        (status = 200, description = "A repeat of an earlier promotion with this Idempotency-Key: the release it created", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn promote(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PromoteRelease>,
) -> Result<Response, ApiError> {
    let Caller { state, user, .. } = &caller;
    let access = query::access(state, user, id).await?;
    access.require(Role::Maintainer)?;
    let key = idempotency::key_and_body(&headers, request.validate())?;
    let source = store::retry_source(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let build = deployed_build(id, &source)?;
    if source.environment == request.environment {
        return Err(ApiError::field(
            "environment",
            format!(
                "release {id} runs in {} already: promote it to another environment",
                source.environment
            ),
        ));
    }
    let environment_id = create::environment_named(state, &access, &request.environment)
        .await?
        .id;
    create::needs_sleakops_key(state, &access).await?;
    let hash = idempotency::request_hash(&["promote", &id.to_string(), &request.environment]);
    let plan = Plan {
        new: NewRelease {
            promoted_from: Some(id),
            ..reuse(&access, user.id, &source, environment_id, id, build.clone())
        },
        message: format!(
            "{} promoted release #{id} ({} at {}, build {build}) from {} to {}",
            user.name,
            source.commit.branch,
            short_commit(source.commit.commit_sha.as_deref()),
            source.environment,
            request.environment
        ),
        linked: Some(Linked {
            release: id,
            kind: EventKind::Promoted,
            said: format!(
                "{} promoted this build to {}",
                user.name, request.environment
            ),
        }),
        action: "release.promote",
        details: format!(
            "promoted_from={id} environment={} build={build}",
            request.environment
        ),
    };
    let (status, release) = create::run(&caller, &access, &key, &hash, &plan).await?;
    Ok(create::respond(status, release))
}

/// Deploy again, in one environment, the build of a release it ran before: `to` if given,
/// else the newest deployed release before the one running now with another build. A new
/// release linked by `rollback_of` to the one it replaces; nothing is built.
///
/// Problems, beyond what their status says:
/// - 403: Rolling back needs the maintainer role; a production environment, a project
///   owner or an organization owner or admin.
/// - 404: No such project or environment, or the caller is not a member.
/// - 409: Nothing to roll back to (nothing runs, or no earlier deployed build), or a request
///   with the same Idempotency-Key is still being processed.
/// - 422: `to` is not a deployed release of this environment with a build, other than the
///   one running; an organization without a SleakOps API key (field `environment`); or an
///   Idempotency-Key that is missing, malformed or was used for a different request.
/// - 503: DynamoDB or MySQL is unavailable; nothing was recorded.
#[utoipa::path(
    post, path = "/api/projects/{slug}/environments/{name}/rollback", tag = "releases",
    params(
        EnvironmentPath,
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1–255 visible ASCII characters, unique per rollback you mean to make; a repeat with the same key and body answers with the same release"),
    ),
    request_body(content = Option<RollBack>, description = "Optional: without a body (or without `to`), the build deployed before the running one"),
    responses(
        (status = 201, description = "The new release, queued (or awaiting approval)", body = Release,
            headers(("Location" = String, description = "The new release's URL"))),
        (status = 200, description = "A repeat of an earlier rollback with this Idempotency-Key: the release it created", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn roll_back(
    project: InProject,
    Path(EnvironmentPath { name, .. }): Path<EnvironmentPath>,
    headers: HeaderMap,
    body: Result<OptionalJson<RollBack>, ApiError>,
) -> Result<Response, ApiError> {
    project.access.require(Role::Maintainer)?;
    let OptionalJson(request) = body?;
    let InProject { caller, access } = &project;
    let Caller { state, user, .. } = caller;
    let key = idempotency::key_and_body(&headers, Ok(()))?;
    let environment = projects::store::environment_running(&state.db, access.project_id, &name)
        .await?
        .ok_or(ApiError::NotFound)?;
    let environment_id = environment.id;
    let running = environment.running.ok_or_else(|| {
        ApiError::conflict(format!(
            "Nothing runs in {name}, so there is nothing to roll back to."
        ))
    })?;
    let target = match request.to {
        Some(to) => to,
        None => previous(state, environment_id, &running, &name).await?,
    };
    let bad_to = |why: &str| ApiError::field("to", format!("release {target} {why}"));
    let source = store::retry_source(&state.db, target)
        .await?
        .filter(|s| s.commit.environment_id == environment_id)
        .ok_or_else(|| bad_to(&format!("is not a release of {name}")))?;
    if target == running.release_id {
        return Err(bad_to(&format!("is the one running in {name}")));
    }
    let build = deployed_build(target, &source).map_err(|_| {
        bad_to("is not a deployed release with a SleakOps build, so it cannot be deployed again")
    })?;
    create::needs_sleakops_key(state, access).await?;
    let hash = idempotency::request_hash(&["rollback", &access.slug, &name, &target.to_string()]);
    let new = NewRelease {
        rollback_of: Some(running.release_id),
        ..reuse(
            access,
            user.id,
            &source,
            environment_id,
            target,
            build.clone(),
        )
    };
    let plan = Plan {
        new,
        message: format!(
            "{} rolled {name} back from release #{} to release #{target} ({} at {}, build {build})",
            user.name,
            running.release_id,
            source.commit.branch,
            short_commit(source.commit.commit_sha.as_deref()),
        ),
        linked: Some(Linked {
            release: running.release_id,
            kind: EventKind::RolledBack,
            said: format!(
                "{} rolled back {name} to release #{target} (build {build})",
                user.name
            ),
        }),
        action: "release.rollback",
        details: format!(
            "rollback_of={} build_of={target} build={build}",
            running.release_id
        ),
    };
    let (status, release) = create::run(caller, access, &key, &hash, &plan).await?;
    Ok(create::respond(status, release))
}

/// The release a rollback without `to` goes back to, or 409.
async fn previous(
    state: &crate::AppState,
    environment_id: u64,
    running: &RunningRelease,
    name: &str,
) -> Result<u64, ApiError> {
    let previous = store::previous_build(&state.db, environment_id, running).await?;
    previous.ok_or_else(|| {
        ApiError::conflict(format!(
            "{name} has nothing to roll back to: no release deployed there before release #{} \
             has another SleakOps build.",
            running.release_id
        ))
    })
}

/// The SleakOps build release `id` deployed, or 409 naming its status.
fn deployed_build(id: u64, source: &RetrySource) -> Result<String, ApiError> {
    match (&source.status, &source.sleakops_build_id) {
        (ReleaseStatus::Deployed, Some(build)) => Ok(build.clone()),
        (status, _) => Err(ApiError::Conflict {
            detail: format!(
                "Release {id} is {}; only a deployed release with a SleakOps build can be \
                 deployed again elsewhere.",
                status.as_str()
            ),
            field: Some("status".into()),
        }),
    }
}

/// A release that deploys `build`, made for release `of` (`source`), to `environment_id`.
fn reuse(
    access: &ProjectAccess,
    requested_by: u64,
    source: &RetrySource,
    environment_id: u64,
    of: u64,
    build: String,
) -> NewRelease {
    NewRelease {
        project_id: access.project_id,
        commit: Commit {
            environment_id,
            ..source.commit.clone()
        },
        requested_by,
        requested_at: crate::db::now(),
        retry_of: None,
        promoted_from: None,
        rollback_of: None,
        build_of: Some(of),
        build: Some(build),
        approval_expires_at: None,
    }
}
