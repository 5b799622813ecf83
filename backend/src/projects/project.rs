//! `/api/projects` and `/api/projects/{slug}`.

use super::{Changes, PageQuery, decode_cursor, store};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn};
use crate::projects::ProjectPath;
use crate::{
    access::InProject,
    audit::Entry,
    auth::Caller,
    db::Read,
    error::ApiError,
    http::{ApiJson, ApiQuery},
    write::{Lock, ProjectWrite},
};
use axum::{Json, http::StatusCode};
use faro_types::{CreateProject, Page, Project, Role, UpdateProject};
use serde_json::json;

/// Create a project; the caller becomes its owner.
///
/// Problems, beyond what their status says:
/// - 409: A project with this slug exists (field `slug`).
#[utoipa::path(
    post, path = "/api/projects", tag = "projects",
    request_body = CreateProject,
    responses(
        (status = 201, description = "Project created; the caller is its owner", body = Project),
        NotSignedIn, Conflict, InvalidInput,
    )
)]
pub(super) async fn create_project(
    caller: Caller,
    ApiJson(request): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    request.validate()?;
    let name = request.name.trim().to_owned();
    let now = crate::db::now();
    let mut write = ProjectWrite::create(&caller).await?;
    let user = &caller.user;
    let new = store::NewProject {
        slug: &request.slug,
        name: &name,
        sleakops_project: &request.sleakops_project,
        repository_url: &request.repository_url,
        default_branch: &request.default_branch,
        created_by: user.id,
        now,
    };
    let id = store::insert_project(write.tx(), &new)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            detail: format!("A project with the slug {} already exists.", request.slug),
            field: Some("slug".into()),
        })?;
    store::insert_member(write.tx(), id, user.id, Role::Owner, now).await?;
    write.created(id, &request.slug);

    let project = Project {
        id,
        slug: request.slug,
        name,
        sleakops_project: request.sleakops_project,
        repository_url: request.repository_url,
        default_branch: request.default_branch,
        role: Role::Owner,
        created_at: now,
        updated_at: now,
    };
    let changed = json!({
        "name": project.name,
        "sleakops_project": project.sleakops_project,
        "repository_url": project.repository_url,
        "default_branch": project.default_branch,
    });
    write
        .commit(
            Entry::new("project.create", format!("project:{}", project.slug))
                .details(changed.to_string()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// The caller's projects, ordered by slug, one page at a time.
#[utoipa::path(
    get, path = "/api/projects", tag = "projects",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's projects, ordered by slug", body = Page<Project>),
        NotSignedIn, InvalidInput,
    )
)]
pub(super) async fn list_projects(
    Caller { state, user, .. }: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Project>>, ApiError> {
    let limit = query.limit()?;
    let after = query
        .cursor()
        .map(decode_cursor)
        .transpose()?
        .unwrap_or_default();
    let items = store::projects_of(&state.db, user.id, &after, limit + 1).await?;
    Ok(Json(crate::paging::page(items, limit, |p| p.slug.clone())))
}

/// One project.
#[utoipa::path(
    get, path = "/api/projects/{slug}", tag = "projects",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project, with the caller's role", body = Project),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn get_project(
    InProject { caller, access }: InProject,
) -> Result<Json<Project>, ApiError> {
    let project = store::project(
        &caller.state.db,
        access.project_id,
        access.role,
        Read::Plain,
    )
    .await?;
    Ok(Json(project.ok_or(ApiError::NotFound)?))
}

/// Change a project: only the fields present change. Maintainers and owners; only owners
/// may change `sleakops_project`. The slug never changes.
///
/// Problems, beyond what their status says:
/// - 403: A viewer, or a maintainer changing `sleakops_project` (named in `field`).
#[utoipa::path(
    patch, path = "/api/projects/{slug}", tag = "projects",
    params(ProjectPath),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The project after the change", body = Project),
        NotSignedIn, Forbidden, NotFound, InvalidInput,
    )
)]
pub(super) async fn update_project(
    caller: InProject,
    body: Result<ApiJson<UpdateProject>, ApiError>,
) -> Result<Json<Project>, ApiError> {
    let request = caller.body(Role::Maintainer, body)?;
    request.validate()?;

    let mut write = caller.write(Lock::Caller, Role::Maintainer).await?;
    let access = write.access().clone();
    let mut project = store::project(write.tx(), access.project_id, access.role, Read::ForUpdate)
        .await?
        .ok_or(ApiError::NotFound)?;

    let mut changes = Changes::default();
    let name = request.name.as_deref().map(|name| name.trim().to_owned());
    changes.set("name", &mut project.name, name);
    if changes.set(
        "sleakops_project",
        &mut project.sleakops_project,
        request.sleakops_project,
    ) {
        access.require_for_field(Role::Owner, "sleakops_project")?;
    }
    let repository_url = request.repository_url;
    changes.set(
        "repository_url",
        &mut project.repository_url,
        repository_url,
    );
    let default_branch = request.default_branch;
    changes.set(
        "default_branch",
        &mut project.default_branch,
        default_branch,
    );
    if changes.is_empty() {
        // Nothing to change: no write, no audit entry.
        return Ok(Json(project));
    }

    project.updated_at = crate::db::now();
    store::update_project(write.tx(), &project).await?;
    write
        .commit(
            Entry::new("project.update", format!("project:{}", access.slug))
                .details(changes.details()),
        )
        .await?;
    Ok(Json(project))
}

/// Delete a project with its environments, members and releases. Owners only.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
#[utoipa::path(
    delete, path = "/api/projects/{slug}", tag = "projects",
    params(ProjectPath),
    responses(
        (status = 204, description = "The project and everything in it are gone"),
        NotSignedIn, Forbidden, NotFound,
    )
)]
pub(super) async fn delete_project(caller: InProject) -> Result<StatusCode, ApiError> {
    let access = &caller.access;
    access.require(Role::Owner)?;

    // Every membership is locked (the cascade deletes them too).
    let mut write = caller.write(Lock::Members, Role::Owner).await?;
    store::delete_project(write.tx(), access.project_id).await?;
    write
        .commit(Entry::new(
            "project.delete",
            format!("project:{}", access.slug),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
