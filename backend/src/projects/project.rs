//! `/api/projects` and `/api/projects/{slug}`.

use super::{Changes, PageQuery, ProjectsQuery, decode_cursor, store};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::orgs::{self, OrgAccess, sleakops_key};
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
use faro_types::{CreateProject, OrgRole, Page, Project, Role, UpdateProject};
use serde_json::json;

/// The organization a new project goes to: the one `organization` names, which the caller
/// must run (admin or owner), or the caller's only one.
async fn organization_for(
    caller: &Caller,
    organization: Option<&str>,
) -> Result<OrgAccess, ApiError> {
    let Caller { state, user, .. } = caller;
    let access = match organization {
        Some(slug) => OrgAccess::load(state, user.id, slug).await.map_err(|_| {
            ApiError::conflict_on(
                "organization",
                "you belong to no organization with this slug",
            )
        })?,
        None => {
            let mut orgs = orgs::store::orgs_of(&state.db, user.id).await?;
            if orgs.len() != 1 {
                return Err(ApiError::conflict_on(
                    "organization",
                    "you belong to several organizations (or none): name the one the project goes to",
                ));
            }
            let org = orgs.remove(0);
            OrgAccess {
                org_id: org.id,
                slug: org.slug,
                role: org.role,
            }
        }
    };
    if !access.role.runs_projects() {
        return Err(ApiError::Forbidden {
            detail: format!(
                "Only an admin or owner of organization {} may create projects in it.",
                access.slug
            ),
            field: Some("organization".into()),
        });
    }
    Ok(access)
}

/// Create a project in an organization; the caller becomes its owner.
///
/// Problems, beyond what their status says:
/// - 403: The caller is a member, not an admin or owner, of the organization (field
///   `organization`).
/// - 409: A project with this slug exists (field `slug`).
/// - 422: Invalid fields; no such organization of the caller's, or none named while the
///   caller belongs to several (field `organization`); a SleakOps project the
///   organization's key does not reach (field `sleakops_project`).
/// - 503: SleakOps could not be asked what the organization's key reaches.
#[utoipa::path(
    post, path = "/api/projects", tag = "projects",
    request_body = CreateProject,
    responses(
        (status = 201, description = "Project created; the caller is its owner", body = Project),
        NotSignedIn, Forbidden, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn create_project(
    caller: Caller,
    ApiJson(request): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    request.validate()?;
    let org = organization_for(&caller, request.organization.as_deref()).await?;
    sleakops_key::check_reach(&caller.state, org.org_id, &request.sleakops_project, None).await?;
    let name = request.name.trim().to_owned();
    let now = crate::db::now();
    let mut write = ProjectWrite::create(&caller, org.org_id).await?;
    let user = &caller.user;
    // The organization role, again under a lock: a demotion meanwhile waits or is seen.
    let role = orgs::store::caller_role(write.tx(), org.org_id, user.id).await?;
    if !role.is_some_and(OrgRole::runs_projects) {
        return Err(ApiError::forbidden(format!(
            "Only an admin or owner of organization {} may create projects in it.",
            org.slug
        )));
    }
    let new = store::NewProject {
        org_id: org.org_id,
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
        organization: org.slug,
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
        "organization": project.organization,
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

/// The projects the caller sees (in one organization when `organization` is given), ordered
/// by slug, one page at a time.
#[utoipa::path(
    get, path = "/api/projects", tag = "projects",
    params(ProjectsQuery),
    responses(
        (status = 200, description = "A page of the caller's projects, ordered by slug", body = Page<Project>),
        NotSignedIn, InvalidInput,
    )
)]
pub(super) async fn list_projects(
    Caller { state, user, .. }: Caller,
    ApiQuery(query): ApiQuery<ProjectsQuery>,
) -> Result<Json<Page<Project>>, ApiError> {
    let ProjectsQuery {
        organization,
        cursor,
        limit,
    } = query;
    let page = PageQuery { cursor, limit };
    let limit = page.limit()?;
    let after = page
        .cursor()
        .map(decode_cursor)
        .transpose()?
        .unwrap_or_default();
    let org_id = match organization.as_deref().filter(|org| !org.is_empty()) {
        // Someone else's organization lists nothing, as an empty one would.
        Some(slug) => Some(
            orgs::store::membership(&state.db, user.id, slug)
                .await?
                .map_or(0, |(id, _)| id),
        ),
        None => None,
    };
    let items = store::projects_of(&state.db, user.id, org_id, &after, limit + 1).await?;
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
pub(super) async fn get_project(caller: InProject) -> Result<Json<Project>, ApiError> {
    Ok(Json(caller.project().await?))
}

/// Change a project: only the fields present change. Maintainers and owners; only owners
/// may change `sleakops_project`. The slug never changes.
///
/// Problems, beyond what their status says:
/// - 403: A viewer, or a maintainer changing `sleakops_project` (named in `field`).
/// - 422: Invalid fields, or a SleakOps project the organization's key does not reach.
/// - 503: SleakOps could not be asked what the organization's key reaches.
#[utoipa::path(
    patch, path = "/api/projects/{slug}", tag = "projects",
    params(ProjectPath),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The project after the change", body = Project),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn update_project(
    caller: InProject,
    body: Result<ApiJson<UpdateProject>, ApiError>,
) -> Result<Json<Project>, ApiError> {
    let request = caller.body(Role::Maintainer, body)?;
    request.validate()?;
    if let Some(sleakops_project) = &request.sleakops_project {
        let access = &caller.access;
        let current = caller.project().await?;
        if current.sleakops_project != *sleakops_project {
            // Asked before any lock is taken: SleakOps may be slow.
            access.require_for_field(Role::Owner, "sleakops_project")?;
            sleakops_key::check_reach(&caller.state, access.org_id, sleakops_project, None).await?;
        }
    }

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
