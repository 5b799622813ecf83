//! `/api/projects/{slug}/environments` and `/api/projects/{slug}/environments/{name}`.

use super::{details, is_unique_violation, relock};
use crate::{
    AppState,
    access::ProjectAccess,
    audit::{self, Scope},
    auth::CurrentUser,
    error::ApiError,
    http::{ApiJson, ClientInfo},
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use faro_types::{CreateEnvironment, Environment, Problem, Role, UpdateEnvironment};
use serde_json::{Map, json};

const COLUMNS: &str = "id, name, sleakops_environment, production, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct EnvironmentRow {
    id: u64,
    name: String,
    sleakops_environment: String,
    production: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EnvironmentRow> for Environment {
    fn from(row: EnvironmentRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            sleakops_environment: row.sleakops_environment,
            production: row.production,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The project's environments, ordered by name.
#[utoipa::path(
    get, path = "/api/projects/{slug}/environments", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The project's environments, ordered by name", body = Vec<Environment>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_environments(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> Result<Json<Vec<Environment>>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let rows: Vec<EnvironmentRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM environments WHERE project_id = ? ORDER BY name"
    ))
    .bind(access.project_id)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(rows.into_iter().map(Environment::from).collect()))
}

/// Add an environment. Maintainers and owners; only owners may create a production one.
#[utoipa::path(
    post, path = "/api/projects/{slug}/environments", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body = CreateEnvironment,
    responses(
        (status = 201, description = "Environment created", body = Environment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A viewer, or a maintainer creating a production environment (field `production`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The project has an environment of this name (field `name`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_environment(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(slug): Path<String>,
    body: Result<ApiJson<CreateEnvironment>, ApiError>,
) -> Result<(StatusCode, Json<Environment>), ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Maintainer)?;
    let ApiJson(request) = body?;
    request.validate()?;
    let authorize = |access: &ProjectAccess| {
        access.require(Role::Maintainer)?;
        if request.production {
            access.require_for_field(Role::Owner, "production")?;
        }
        Ok::<_, ApiError>(())
    };
    authorize(&access)?;

    let now = crate::db::now();
    let mut tx = state.db.begin().await?;
    authorize(&relock(&mut tx, &access, &user).await?)?;
    let inserted = sqlx::query(
        "INSERT INTO environments (project_id, name, sleakops_environment, production, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(access.project_id)
    .bind(&request.name)
    .bind(&request.sleakops_environment)
    .bind(request.production)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    let id = match inserted {
        Ok(done) => done.last_insert_id(),
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::Conflict {
                detail: format!(
                    "Project {slug} already has an environment named {}.",
                    request.name
                ),
                field: Some("name".into()),
            });
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;

    let environment = Environment {
        id,
        name: request.name,
        sleakops_environment: request.sleakops_environment,
        production: request.production,
        created_at: now,
        updated_at: now,
    };
    let changed = json!({
        "sleakops_environment": environment.sleakops_environment,
        "production": environment.production,
    });
    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(access.project_id),
            &user,
            &client,
            "environment.create",
            format!("environment:{}", environment.name),
        )
        .details(changed.to_string()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(environment)))
}

/// One environment.
#[utoipa::path(
    get, path = "/api/projects/{slug}/environments/{name}", tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("name" = String, Path, description = "The environment's name"),
    ),
    responses(
        (status = 200, description = "The environment", body = Environment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or environment, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_environment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((slug, name)): Path<(String, String)>,
) -> Result<Json<Environment>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let row: Option<EnvironmentRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM environments WHERE project_id = ? AND name = ?"
    ))
    .bind(access.project_id)
    .bind(&name)
    .fetch_optional(&state.db)
    .await?;
    Ok(Json(row.ok_or(ApiError::NotFound)?.into()))
}

/// The environment `name` of the project, locked for update until commit.
async fn lock(
    conn: &mut sqlx::MySqlConnection,
    project_id: u64,
    name: &str,
) -> Result<EnvironmentRow, ApiError> {
    let row: Option<EnvironmentRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM environments WHERE project_id = ? AND name = ? FOR UPDATE"
    ))
    .bind(project_id)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.ok_or(ApiError::NotFound)
}

/// Change an environment: only the fields present change. Maintainers and owners; only
/// owners may change `production`. The name never changes (it is in URLs and releases).
#[utoipa::path(
    patch, path = "/api/projects/{slug}/environments/{name}", tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("name" = String, Path, description = "The environment's name"),
    ),
    request_body = UpdateEnvironment,
    responses(
        (status = 200, description = "The environment after the change", body = Environment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A viewer, or a maintainer changing `production` (named in `field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or environment, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_environment(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path((slug, name)): Path<(String, String)>,
    body: Result<ApiJson<UpdateEnvironment>, ApiError>,
) -> Result<Json<Environment>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Maintainer)?;
    let ApiJson(request) = body?;
    request.validate()?;

    let mut tx = state.db.begin().await?;
    let access = relock(&mut tx, &access, &user).await?;
    access.require(Role::Maintainer)?;
    let mut environment: Environment = lock(&mut tx, access.project_id, &name).await?.into();

    let mut changed = Map::new();
    if let Some(production) = request.production
        && production != environment.production
    {
        access.require_for_field(Role::Owner, "production")?;
        changed.insert("production".into(), json!(production));
        environment.production = production;
    }
    if let Some(sleakops_environment) = request.sleakops_environment
        && sleakops_environment != environment.sleakops_environment
    {
        changed.insert("sleakops_environment".into(), json!(sleakops_environment));
        environment.sleakops_environment = sleakops_environment;
    }
    if changed.is_empty() {
        return Ok(Json(environment));
    }

    let now = crate::db::now();
    sqlx::query(
        "UPDATE environments SET sleakops_environment = ?, production = ?, updated_at = ? \
         WHERE id = ? AND project_id = ?",
    )
    .bind(&environment.sleakops_environment)
    .bind(environment.production)
    .bind(now)
    .bind(environment.id)
    .bind(access.project_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    environment.updated_at = now;

    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(access.project_id),
            &user,
            &client,
            "environment.update",
            format!("environment:{name}"),
        )
        .details(details(changed)),
    )
    .await;
    Ok(Json(environment))
}

/// Delete an environment that has no releases (their history must not vanish). Maintainers
/// and owners; only owners may delete a production environment.
#[utoipa::path(
    delete, path = "/api/projects/{slug}/environments/{name}", tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("name" = String, Path, description = "The environment's name"),
    ),
    responses(
        (status = 204, description = "The environment is gone"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A viewer, or a maintainer deleting a production environment", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or environment, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The environment has releases", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_environment(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path((slug, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Maintainer)?;

    let mut tx = state.db.begin().await?;
    let access = relock(&mut tx, &access, &user).await?;
    access.require(Role::Maintainer)?;
    // The row lock also holds off releases being created in it meanwhile (their foreign key
    // check needs a shared lock on this row).
    let environment = lock(&mut tx, access.project_id, &name).await?;
    if environment.production {
        access.require(Role::Owner)?;
    }
    let release: Option<(u64,)> = sqlx::query_as(
        "SELECT id FROM releases WHERE environment_id = ? LIMIT 1 LOCK IN SHARE MODE",
    )
    .bind(environment.id)
    .fetch_optional(&mut *tx)
    .await?;
    if release.is_some() {
        return Err(ApiError::conflict(format!(
            "Environment {name} has releases; it cannot be deleted without losing their history."
        )));
    }
    sqlx::query("DELETE FROM environments WHERE id = ? AND project_id = ?")
        .bind(environment.id)
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
            "environment.delete",
            format!("environment:{name}"),
        ),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
