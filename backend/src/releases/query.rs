//! Reading releases: a project's list (filtered, keyset-paginated), the dashboard's recent
//! releases across the caller's projects, one release, and its timeline.

use super::{
    store::{self, ListFilter},
    timeline,
};
use crate::openapi::{Conflict, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::projects::{self, ProjectPath, store::ProjectKey};
use crate::releases::ReleasePath;
use crate::{
    AppState,
    access::ProjectAccess,
    auth::{Caller, CurrentUser},
    db::Read,
    error::ApiError,
    http::ApiQuery,
    paging,
};
use axum::{Json, extract::Path};
use faro_types::{Page, Release, ReleaseStatus, TimelineEvent};
use serde::Deserialize;

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
    /// Only releases in this status: queued, building, deploying, deployed, failed, cancelled
    /// or needs_attention.
    #[param(value_type = Option<ReleaseStatus>)]
    status: Option<String>,
    /// Only releases of this branch.
    branch: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Releases per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

fn decode_cursor(cursor: &str) -> Result<u64, ApiError> {
    paging::decode(cursor, |key| key.strip_prefix("release:")?.parse().ok())
}

/// A project's releases, newest first, with filters and cursor pagination.
///
/// Problems, beyond what their status says:
/// - 422: An invalid parameter (unknown status or environment, bad cursor or limit).
#[utoipa::path(
    get, path = "/api/projects/{slug}/releases", tag = "releases",
    params(ProjectPath, ListQuery),
    responses(
        (status = 200, description = "One page of releases, newest first", body = Page<Release>),
        NotSignedIn, NotFound, Conflict, InvalidInput,
    )
)]
pub(super) async fn list(
    Caller { state, user, .. }: Caller,
    Path(ProjectPath { slug }): Path<ProjectPath>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Release>>, ApiError> {
    let checked = list_parameters(&query);
    let (limit, status, before) = match checked {
        Ok(parameters) => parameters,
        Err(err) => {
            // A stranger learns nothing from the parameters: 404 comes first.
            ProjectAccess::load(&state, &user, ProjectKey::Slug(&slug)).await?;
            return Err(err);
        }
    };
    let filter = ListFilter {
        environment: query.environment,
        status,
        branch: query.branch,
    };
    let items = store::member_page(&state.db, user.id, &slug, &filter, before, limit + 1).await?;
    if items.is_empty() {
        // No project, not a member, no such environment, or simply no releases: which?
        let access = ProjectAccess::load(&state, &user, ProjectKey::Slug(&slug)).await?;
        if let Some(name) = &filter.environment {
            projects::store::environment(&state.db, access.project_id, name, Read::Plain)
                .await?
                .ok_or_else(|| {
                    ApiError::conflict_on(
                        "environment",
                        "the project has no environment of this name",
                    )
                })?;
        }
    }
    let page = paging::page(items, limit, |r| format!("release:{}", r.id));
    Ok(Json(page))
}

/// The list's limit, status and cursor, checked.
fn list_parameters(
    query: &ListQuery,
) -> Result<(u32, Option<ReleaseStatus>, Option<u64>), ApiError> {
    let limit = paging::limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            ReleaseStatus::parse(s).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be one of queued, building, deploying, deployed, failed, cancelled, \
                     needs_attention",
                )
            })
        })
        .transpose()?;
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    Ok((limit, status, before))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RecentQuery {
    /// How many releases, 1–50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
}

/// The newest releases across all of the caller's projects, for the dashboard.
///
/// Problems, beyond what their status says:
/// - 422: An invalid limit.
#[utoipa::path(
    get, path = "/api/releases", tag = "releases",
    params(RecentQuery),
    responses(
        (status = 200, description = "The newest releases, newest first", body = Vec<Release>),
        NotSignedIn, InvalidInput,
    )
)]
pub(super) async fn recent(
    Caller { state, user, .. }: Caller,
    ApiQuery(query): ApiQuery<RecentQuery>,
) -> Result<Json<Vec<Release>>, ApiError> {
    let limit = paging::limit(query.limit, DEFAULT_LIMIT, MAX_RECENT)?;
    Ok(Json(
        store::newest_seen_by(&state.db, user.id, limit).await?,
    ))
}

/// Loads release `id` if the caller is a member of its project (otherwise it does not
/// exist for them: 404).
pub(crate) async fn load(
    state: &AppState,
    user: &CurrentUser,
    id: u64,
) -> Result<(ProjectAccess, Release), ApiError> {
    let (project_id, release) = store::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = ProjectAccess::load(state, user, ProjectKey::Id(project_id)).await?;
    Ok((access, release))
}

/// The caller's access to release `id`'s project, without loading the release.
pub(super) async fn access(
    state: &AppState,
    user: &CurrentUser,
    id: u64,
) -> Result<ProjectAccess, ApiError> {
    let project_id = store::project_of(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    ProjectAccess::load(state, user, ProjectKey::Id(project_id)).await
}

/// One release.
#[utoipa::path(
    get, path = "/api/releases/{id}", tag = "releases",
    params(ReleasePath),
    responses(
        (status = 200, description = "The release", body = Release),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn get(
    Caller { state, user, .. }: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
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
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A release's timeline.
///
/// Problems, beyond what their status says:
/// - 422: An invalid order or limit.
/// - 503: DynamoDB is unavailable.
#[utoipa::path(
    get, path = "/api/releases/{id}/timeline", tag = "releases",
    params(ReleasePath, TimelineQuery),
    responses(
        (status = 200, description = "The release's events in the order asked for", body = Vec<TimelineEvent>),
        NotSignedIn, NotFound, InvalidInput, Unavailable,
    )
)]
pub(super) async fn timeline(
    Caller { state, user, .. }: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Json<Vec<TimelineEvent>>, ApiError> {
    access(&state, &user, id).await?;
    let limit = paging::limit(query.limit, MAX_TIMELINE, MAX_TIMELINE)? as usize;
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
        assert_eq!(decode_cursor(&paging::encode("release:42")).ok(), Some(42));
        for bad in ["", "zz", "42", &hex::encode("project:1")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
