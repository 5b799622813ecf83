//! `/api/projects/{slug}/audit`: who changed what in a project, newest first.

use super::PageQuery;
use crate::{
    AppState,
    access::ProjectAccess,
    audit::{self, Scope},
    auth::CurrentUser,
    error::ApiError,
    http::ApiQuery,
};
use axum::{
    Json,
    extract::{Path, State},
};
use faro_types::{AuditEntry, Page, Problem};

/// The project's audit log, newest first. Any member may read it.
#[utoipa::path(
    get, path = "/api/projects/{slug}/audit", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug"), PageQuery),
    responses(
        (status = 200, description = "A page of audit entries, newest first", body = Page<AuditEntry>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DynamoDB is unavailable; retry shortly", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let ApiQuery(query) = query?;
    let limit = query.limit()?;
    audit::list(
        &state,
        Scope::Project(access.project_id),
        query.cursor(),
        limit,
    )
    .await
    .map(Json)
}
