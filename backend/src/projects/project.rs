//! `/api/projects` and `/api/projects/{slug}`.

use super::{
    PageQuery, access_among, decode_cursor, details, encode_cursor, is_unique_violation,
    lock_members, relock,
};
use crate::{
    AppState,
    access::ProjectAccess,
    audit::{self, Scope},
    auth::CurrentUser,
    error::ApiError,
    http::{ApiJson, ApiQuery, ClientInfo},
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use faro_types::{CreateProject, Page, Problem, Project, Role, UpdateProject};
use serde_json::{Map, json};

const COLUMNS: &str = "p.id, p.slug, p.name, p.sleakops_project, p.repository_url, \
                       p.default_branch, p.created_at, p.updated_at";

#[derive(Debug, sqlx::FromRow)]
struct ProjectRow {
    id: u64,
    slug: String,
    name: String,
    sleakops_project: String,
    repository_url: String,
    default_branch: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A project with the caller's role, as lists read it.
#[derive(Debug, sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    project: ProjectRow,
    role: String,
}

impl ProjectRow {
    fn into_project(self, role: Role) -> Project {
        Project {
            role,
            id: self.id,
            slug: self.slug,
            name: self.name,
            sleakops_project: self.sleakops_project,
            repository_url: self.repository_url,
            default_branch: self.default_branch,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(
    post, path = "/api/projects", tag = "projects",
    request_body = CreateProject,
    responses(
        (status = 201, description = "Project created; the caller is its owner", body = Project),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A project with this slug exists (field `slug`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_project(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    request.validate()?;
    let name = request.name.trim().to_owned();
    let now = crate::db::now();
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO projects (slug, name, sleakops_project, repository_url, default_branch, \
         created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&request.slug)
    .bind(&name)
    .bind(&request.sleakops_project)
    .bind(&request.repository_url)
    .bind(&request.default_branch)
    .bind(user.id)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    let id = match inserted {
        Ok(done) => done.last_insert_id(),
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::Conflict {
                detail: format!("A project with the slug {} already exists.", request.slug),
                field: Some("slug".into()),
            });
        }
        Err(e) => return Err(e.into()),
    };
    sqlx::query(
        "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(id)
    .bind(user.id)
    .bind(Role::Owner.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

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
    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(id),
            &user,
            &client,
            "project.create",
            format!("project:{}", project.slug),
        )
        .details(changed.to_string()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(project)))
}

/// The caller's projects, ordered by slug, one page at a time.
#[utoipa::path(
    get, path = "/api/projects", tag = "projects",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's projects, ordered by slug", body = Page<Project>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown query parameters", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_projects(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Project>>, ApiError> {
    let limit = query.limit()?;
    let after = query
        .cursor()
        .map(decode_cursor)
        .transpose()?
        .unwrap_or_default();
    let rows: Vec<ListedRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, m.role FROM memberships m \
         JOIN projects p ON p.id = m.project_id \
         WHERE m.user_id = ? AND p.slug > ? \
         ORDER BY p.slug LIMIT ?"
    ))
    .bind(user.id)
    .bind(&after)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    let mut items = rows
        .into_iter()
        .map(|row| super::parse_role(&row.role).map(|role| row.project.into_project(role)))
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|p| encode_cursor(&p.slug))
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// One project.
#[utoipa::path(
    get, path = "/api/projects/{slug}", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The project, with the caller's role", body = Project),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> Result<Json<Project>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let row: Option<ProjectRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM projects p WHERE p.id = ?"))
            .bind(access.project_id)
            .fetch_optional(&state.db)
            .await?;
    Ok(Json(
        row.ok_or(ApiError::NotFound)?.into_project(access.role),
    ))
}

/// Change a project: only the fields present change. Maintainers and owners; only owners
/// may change `sleakops_project`. The slug never changes.
#[utoipa::path(
    patch, path = "/api/projects/{slug}", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The project after the change", body = Project),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A viewer, or a maintainer changing `sleakops_project` (named in `field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_project(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(slug): Path<String>,
    body: Result<ApiJson<UpdateProject>, ApiError>,
) -> Result<Json<Project>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Maintainer)?;
    // The body is looked at only once the caller may write here.
    let ApiJson(request) = body?;
    request.validate()?;

    let mut tx = state.db.begin().await?;
    let access = relock(&mut tx, &access, &user).await?;
    access.require(Role::Maintainer)?;
    let row: Option<ProjectRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projects p WHERE p.id = ? FOR UPDATE"
    ))
    .bind(access.project_id)
    .fetch_optional(&mut *tx)
    .await?;
    let mut project = row.ok_or(ApiError::NotFound)?.into_project(access.role);

    let mut changed = Map::new();
    if let Some(name) = request.name.as_deref().map(str::trim)
        && name != project.name
    {
        project.name = name.to_owned();
        changed.insert("name".into(), json!(name));
    }
    if let Some(sleakops_project) = request.sleakops_project
        && sleakops_project != project.sleakops_project
    {
        access.require_for_field(Role::Owner, "sleakops_project")?;
        changed.insert("sleakops_project".into(), json!(sleakops_project));
        project.sleakops_project = sleakops_project;
    }
    if let Some(repository_url) = request.repository_url
        && repository_url != project.repository_url
    {
        changed.insert("repository_url".into(), json!(repository_url));
        project.repository_url = repository_url;
    }
    if let Some(default_branch) = request.default_branch
        && default_branch != project.default_branch
    {
        changed.insert("default_branch".into(), json!(default_branch));
        project.default_branch = default_branch;
    }
    if changed.is_empty() {
        // Nothing to change: no write, no audit entry.
        return Ok(Json(project));
    }

    let now = crate::db::now();
    sqlx::query(
        "UPDATE projects SET name = ?, sleakops_project = ?, repository_url = ?, \
         default_branch = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&project.name)
    .bind(&project.sleakops_project)
    .bind(&project.repository_url)
    .bind(&project.default_branch)
    .bind(now)
    .bind(project.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    project.updated_at = now;

    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(project.id),
            &user,
            &client,
            "project.update",
            format!("project:{slug}"),
        )
        .details(details(changed)),
    )
    .await;
    Ok(Json(project))
}

/// Delete a project with its environments, members and releases. Owners only.
#[utoipa::path(
    delete, path = "/api/projects/{slug}", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 204, description = "The project and everything in it are gone"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_project(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Owner)?;

    let mut tx = state.db.begin().await?;
    // Memberships first, as in every write here; the cascade deletes them too.
    let members = lock_members(&mut tx, access.project_id).await?;
    access_among(&members, &access, &user)?.require(Role::Owner)?;
    sqlx::query("DELETE FROM projects WHERE id = ?")
        .bind(access.project_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(access.project_id),
            &user,
            &client,
            "project.delete",
            format!("project:{slug}"),
        ),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
