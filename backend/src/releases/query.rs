//! Reading releases: a project's list (filtered, keyset-paginated), the dashboard's recent
//! releases across the caller's projects, one release, and its timeline.

use super::{store, timeline};
use crate::{AppState, access::ProjectAccess, auth::CurrentUser, error::ApiError, http::ApiQuery};
use axum::{
    Json,
    extract::{Path, State},
};
use faro_types::{Page, Problem, Release, ReleaseStatus, TimelineEvent};
use serde::Deserialize;
use sqlx::Row;

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
const MAX_RECENT: u32 = 50;
/// More events than any release's timeline has; the cap keeps one request bounded.
const MAX_TIMELINE: u32 = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Only releases to this environment (its name).
    environment: Option<String>,
    /// Only releases in this status: queued, building, deploying, deployed, failed or cancelled.
    status: Option<String>,
    /// Only releases of this branch.
    branch: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Releases per page, 1–100 (default 20).
    limit: Option<u32>,
}

fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        )),
    }
}

fn encode_cursor(id: u64) -> String {
    hex::encode(format!("release:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, ApiError> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|s| s.strip_prefix("release:")?.parse().ok())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this API issued"))
}

/// A project's releases, newest first, with filters and cursor pagination.
#[utoipa::path(
    get, path = "/api/projects/{slug}/releases", tag = "releases",
    params(("slug" = String, Path, description = "The project's slug"), ListQuery),
    responses(
        (status = 200, description = "One page of releases, newest first", body = Page<Release>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter (unknown status or environment, bad cursor or limit)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Release>>, ApiError> {
    let checked = list_parameters(&query);
    let (limit, status, before) = match checked {
        Ok(parameters) => parameters,
        Err(err) => {
            // A stranger learns nothing from the parameters: 404 comes first.
            ProjectAccess::load(&state, &user, &slug).await?;
            return Err(err);
        }
    };
    let filter = ListFilter {
        environment: query.environment,
        status,
        branch: query.branch,
    };
    let mut items = page(&state.db, user.id, &slug, &filter, before, limit + 1).await?;
    if items.is_empty() {
        // No project, not a member, no such environment, or simply no releases: which?
        let access = ProjectAccess::load(&state, &user, &slug).await?;
        if let Some(name) = &filter.environment {
            let row: Option<(u64,)> =
                sqlx::query_as("SELECT id FROM environments WHERE project_id = ? AND name = ?")
                    .bind(access.project_id)
                    .bind(name)
                    .fetch_optional(&state.db)
                    .await?;
            row.ok_or_else(|| {
                ApiError::field("environment", "the project has no environment of this name")
            })?;
        }
    }
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|r| encode_cursor(r.id))
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// The list's limit, status and cursor, checked.
fn list_parameters(
    query: &ListQuery,
) -> Result<(u32, Option<ReleaseStatus>, Option<u64>), ApiError> {
    let limit = limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            ReleaseStatus::parse(s).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be one of queued, building, deploying, deployed, failed, cancelled",
                )
            })
        })
        .transpose()?;
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    Ok((limit, status, before))
}

/// What a project's release list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// An environment's name.
    pub environment: Option<String>,
    pub status: Option<ReleaseStatus>,
    pub branch: Option<String>,
}

/// Up to `limit` releases of project `slug` older than `before`, newest first, as member
/// `user_id` sees them: the list endpoint's query (the bench runs it alone to show the
/// database's own ceiling). The membership check and the environment's name are part of the
/// query, so a page is one round trip; it is empty for a stranger (and for an unknown
/// environment), and the caller finds out which.
pub async fn page(
    db: &sqlx::MySqlPool,
    user_id: u64,
    slug: &str,
    filter: &ListFilter,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<Release>, sqlx::Error> {
    // Each filter has an index that ends in the id; a page reads one of them backwards.
    let index = if filter.status.is_some() {
        "ix_releases_project_status"
    } else if filter.branch.is_some() {
        "ix_releases_project_branch"
    } else if filter.environment.is_some() {
        "ix_releases_environment"
    } else {
        "ix_releases_project"
    };
    let mut conditions = String::new();
    if filter.environment.is_some() {
        conditions.push_str(" AND r.environment_id = fe.id");
    }
    if filter.status.is_some() {
        conditions.push_str(" AND r.status = ?");
    }
    if filter.branch.is_some() {
        conditions.push_str(" AND r.branch = ?");
    }
    if before.is_some() {
        conditions.push_str(" AND r.id < ?");
    }
    let sql = store::select_member_page(index, filter.environment.is_some(), &conditions);
    let mut q = sqlx::query(&sql).bind(user_id);
    if let Some(name) = &filter.environment {
        q = q.bind(name);
    }
    q = q.bind(slug);
    if let Some(status) = filter.status {
        q = q.bind(status.as_str());
    }
    if let Some(branch) = &filter.branch {
        q = q.bind(branch);
    }
    if let Some(id) = before {
        q = q.bind(id);
    }
    q.bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(store::from_row)
        .collect()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RecentQuery {
    /// How many releases, 1–50 (default 20).
    limit: Option<u32>,
}

/// The newest releases across all of the caller's projects, for the dashboard.
#[utoipa::path(
    get, path = "/api/releases", tag = "releases",
    params(RecentQuery),
    responses(
        (status = 200, description = "The newest releases, newest first", body = Vec<Release>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid limit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn recent(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<RecentQuery>,
) -> Result<Json<Vec<Release>>, ApiError> {
    let limit = limit(query.limit, DEFAULT_LIMIT, MAX_RECENT)?;
    let projects: Vec<(u64,)> =
        sqlx::query_as("SELECT project_id FROM memberships WHERE user_id = ?")
            .bind(user.id)
            .fetch_all(&state.db)
            .await?;
    if projects.is_empty() {
        return Ok(Json(Vec::new()));
    }
    // The newest `limit` of each project through its (project_id, id) index, merged: no scan
    // of other teams' releases however many there are.
    let per_project = "(SELECT id FROM releases WHERE project_id = ? ORDER BY id DESC LIMIT ?)";
    let union = vec![per_project; projects.len()].join(" UNION ALL ");
    let sql = store::select_ids(&format!(
        "SELECT id FROM ({union}) newest ORDER BY id DESC LIMIT ?"
    ));
    let mut q = sqlx::query(&sql);
    for (project_id,) in &projects {
        q = q.bind(project_id).bind(limit);
    }
    let rows = q.bind(limit).fetch_all(&state.db).await?;
    let items = rows
        .iter()
        .map(store::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(items))
}

/// Loads release `id` if the caller is a member of its project (otherwise it does not
/// exist for them: 404).
pub(super) async fn load(
    state: &AppState,
    user: &CurrentUser,
    id: u64,
) -> Result<(ProjectAccess, Release), ApiError> {
    let (project_id, release) = store::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = ProjectAccess::load_by_id(state, user, project_id).await?;
    Ok((access, release))
}

/// The caller's access to release `id`'s project, without loading the release.
pub(super) async fn access(
    state: &AppState,
    user: &CurrentUser,
    id: u64,
) -> Result<ProjectAccess, ApiError> {
    let row = sqlx::query("SELECT project_id FROM releases WHERE id = ?")
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    ProjectAccess::load_by_id(state, user, row.try_get("project_id")?).await
}

/// One release.
#[utoipa::path(
    get, path = "/api/releases/{id}", tag = "releases",
    params(("id" = u64, Path, description = "The release's id")),
    responses(
        (status = 200, description = "The release", body = Release),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<u64>,
) -> Result<Json<Release>, ApiError> {
    let (_, release) = load(&state, &user, id).await?;
    Ok(Json(release))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum Order {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct TimelineQuery {
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(inline)]
    order: Option<Order>,
    /// At most this many events, 1–1000 (default all, up to 1000).
    limit: Option<u32>,
}

/// A release's timeline.
#[utoipa::path(
    get, path = "/api/releases/{id}/timeline", tag = "releases",
    params(("id" = u64, Path, description = "The release's id"), TimelineQuery),
    responses(
        (status = 200, description = "The release's events in the order asked for", body = Vec<TimelineEvent>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid order or limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DynamoDB is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn timeline(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<u64>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Json<Vec<TimelineEvent>>, ApiError> {
    access(&state, &user, id).await?;
    let limit = limit(query.limit, MAX_TIMELINE, MAX_TIMELINE)? as usize;
    let events = match query.order.unwrap_or_default() {
        Order::Asc => timeline::after(&state.dynamo, &state.table, id, 0, limit).await?,
        Order::Desc => timeline::newest(&state.dynamo, &state.table, id, limit).await?,
    };
    Ok(Json(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        for bad in ["", "zz", "42", &hex::encode("project:1")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
