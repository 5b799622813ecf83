//! `/api/projects/{slug}/environments` and `/api/projects/{slug}/environments/{name}`.

use super::{Changes, store};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::projects::{EnvironmentPath, ProjectPath};
use crate::{
    access::{InProject, ProjectAccess},
    audit::Entry,
    db::Read,
    error::ApiError,
    http::ApiJson,
    write::Lock,
};
use axum::{Json, extract::Path, http::StatusCode};
use faro_types::{CreateEnvironment, Environment, Role, UpdateEnvironment};
use serde_json::json;

/// Refuses a SleakOps environment of the project's SleakOps project that the organization's
/// key does not reach. Asked before any lock is taken: SleakOps may be slow.
async fn check_reach(caller: &InProject, sleakops_environment: &str) -> Result<(), ApiError> {
    let access = &caller.access;
    let project = caller.project().await?;
    crate::orgs::sleakops_key::check_reach(
        &caller.state,
        access.org_id,
        &project.sleakops_project,
        Some(("sleakops_environment", sleakops_environment)),
    )
    .await
}

/// The project's environments, ordered by name, each with what runs there (`running`).
#[utoipa::path(
    get, path = "/api/projects/{slug}/environments", tag = "projects",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project's environments, ordered by name", body = Vec<Environment>),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn list_environments(
    InProject { caller, access }: InProject,
) -> Result<Json<Vec<Environment>>, ApiError> {
    Ok(Json(
        store::environments(&caller.state.db, access.project_id).await?,
    ))
}

/// Add an environment. Maintainers and owners; only owners may create a production one, or
/// set `requires_approval` other than its default (the environment's `production`).
///
/// Problems, beyond what their status says:
/// - 403: A viewer, or a maintainer creating a production environment or choosing its
///   approval rule (the field is named).
/// - 409: The project has an environment of this name (field `name`).
/// - 422: Invalid fields, or a SleakOps environment the organization's key does not reach.
/// - 503: SleakOps could not be asked what the organization's key reaches.
#[utoipa::path(
    post, path = "/api/projects/{slug}/environments", tag = "projects",
    params(ProjectPath),
    request_body = CreateEnvironment,
    responses(
        (status = 201, description = "Environment created", body = Environment),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn create_environment(
    caller: InProject,
    body: Result<ApiJson<CreateEnvironment>, ApiError>,
) -> Result<(StatusCode, Json<Environment>), ApiError> {
    let access = &caller.access;
    let request = caller.body(Role::Maintainer, body)?;
    request.validate()?;
    let requires_approval = request.requires_approval.unwrap_or(request.production);
    let authorize = |access: &ProjectAccess| {
        access.require(Role::Maintainer)?;
        if request.production {
            access.require_for_field(Role::Owner, "production")?;
        }
        if requires_approval != request.production {
            access.require_for_field(Role::Owner, "requires_approval")?;
        }
        Ok::<_, ApiError>(())
    };
    authorize(access)?;
    check_reach(&caller, &request.sleakops_environment).await?;

    let now = crate::db::now();
    let mut write = caller.write(Lock::Caller, Role::Maintainer).await?;
    authorize(write.access())?;
    let mut environment = Environment {
        id: 0,
        name: request.name,
        sleakops_environment: request.sleakops_environment,
        production: request.production,
        requires_approval,
        created_at: now,
        updated_at: now,
        running: None,
    };
    environment.id = store::insert_environment(write.tx(), access.project_id, &environment)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            detail: format!(
                "Project {} already has an environment named {}.",
                access.slug, environment.name
            ),
            field: Some("name".into()),
        })?;
    let changed = json!({
        "sleakops_environment": environment.sleakops_environment,
        "production": environment.production,
        "requires_approval": environment.requires_approval,
    });
    write
        .commit(
            Entry::new(
                "environment.create",
                format!("environment:{}", environment.name),
            )
            .details(changed.to_string()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(environment)))
}

/// One environment, with what runs there (`running`).
///
/// Problems, beyond what their status says:
/// - 404: No such project or environment, or the caller is not a member.
#[utoipa::path(
    get, path = "/api/projects/{slug}/environments/{name}", tag = "projects",
    params(EnvironmentPath),
    responses(
        (status = 200, description = "The environment", body = Environment),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn get_environment(
    InProject { caller, access }: InProject,
    Path(EnvironmentPath { name, .. }): Path<EnvironmentPath>,
) -> Result<Json<Environment>, ApiError> {
    let environment =
        store::environment_running(&caller.state.db, access.project_id, &name).await?;
    Ok(Json(environment.ok_or(ApiError::NotFound)?))
}

/// Change an environment: only the fields present change. Maintainers and owners; only
/// owners may change `production`, `requires_approval`, or where a production environment
/// points (`sleakops_environment`). The name never changes (it is in URLs and releases).
/// Turning `requires_approval` off leaves releases already waiting for approval waiting.
///
/// Problems, beyond what their status says:
/// - 403: A viewer, or a maintainer changing `production`, `requires_approval` or a
///   production environment's `sleakops_environment` (named in `field`).
/// - 404: No such project or environment, or the caller is not a member.
/// - 422: Invalid fields, or a SleakOps environment the organization's key does not reach.
/// - 503: SleakOps could not be asked what the organization's key reaches.
#[utoipa::path(
    patch, path = "/api/projects/{slug}/environments/{name}", tag = "projects",
    params(EnvironmentPath),
    request_body = UpdateEnvironment,
    responses(
        (status = 200, description = "The environment after the change", body = Environment),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn update_environment(
    caller: InProject,
    Path(EnvironmentPath { name, .. }): Path<EnvironmentPath>,
    body: Result<ApiJson<UpdateEnvironment>, ApiError>,
) -> Result<Json<Environment>, ApiError> {
    let request = caller.body(Role::Maintainer, body)?;
    request.validate()?;
    if let Some(sleakops_environment) = &request.sleakops_environment {
        check_reach(&caller, sleakops_environment).await?;
    }

    let mut write = caller.write(Lock::Caller, Role::Maintainer).await?;
    let access = write.access().clone();
    let mut environment = store::environment(write.tx(), access.project_id, &name, Read::ForUpdate)
        .await?
        .ok_or(ApiError::NotFound)?;

    let was_production = environment.production;
    let mut changes = Changes::default();
    if changes.set(
        "production",
        &mut environment.production,
        request.production,
    ) {
        access.require_for_field(Role::Owner, "production")?;
    }
    if changes.set(
        "requires_approval",
        &mut environment.requires_approval,
        request.requires_approval,
    ) {
        access.require_for_field(Role::Owner, "requires_approval")?;
    }
    // Where a production environment points is the owners' to decide.
    if changes.set(
        "sleakops_environment",
        &mut environment.sleakops_environment,
        request.sleakops_environment,
    ) && (was_production || environment.production)
    {
        access.require_for_field(Role::Owner, "sleakops_environment")?;
    }
    // The answer says what runs there, as the GET does.
    environment.running = store::environment_running(write.tx(), access.project_id, &name)
        .await?
        .and_then(|e| e.running);
    if changes.is_empty() {
        return Ok(Json(environment));
    }

    environment.updated_at = crate::db::now();
    store::update_environment(write.tx(), access.project_id, &environment).await?;
    write
        .commit(
            Entry::new("environment.update", format!("environment:{name}"))
                .details(changes.details()),
        )
        .await?;
    Ok(Json(environment))
}

/// Delete an environment that has no releases (their history must not vanish). Maintainers
/// and owners; only owners may delete a production environment.
///
/// Problems, beyond what their status says:
/// - 403: A viewer, or a maintainer deleting a production environment.
/// - 404: No such project or environment, or the caller is not a member.
/// - 409: The environment has releases.
#[utoipa::path(
    delete, path = "/api/projects/{slug}/environments/{name}", tag = "projects",
    params(EnvironmentPath),
    responses(
        (status = 204, description = "The environment is gone"),
        NotSignedIn, Forbidden, NotFound, Conflict,
    )
)]
pub(super) async fn delete_environment(
    caller: InProject,
    Path(EnvironmentPath { name, .. }): Path<EnvironmentPath>,
) -> Result<StatusCode, ApiError> {
    caller.access.require(Role::Maintainer)?;

    let mut write = caller.write(Lock::Caller, Role::Maintainer).await?;
    let access = write.access().clone();
    // The row lock also holds off releases being created in it meanwhile (their foreign key
    // check needs a shared lock on this row).
    let environment = store::environment(write.tx(), access.project_id, &name, Read::ForUpdate)
        .await?
        .ok_or(ApiError::NotFound)?;
    if environment.production {
        access.require(Role::Owner)?;
    }
    if store::has_releases(write.tx(), environment.id).await? {
        return Err(ApiError::conflict(format!(
            "Environment {name} has releases; it cannot be deleted without losing their history."
        )));
    }
    store::delete_environment(write.tx(), access.project_id, environment.id).await?;
    write
        .commit(Entry::new(
            "environment.delete",
            format!("environment:{name}"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
