//! `/api/projects/{slug}/audit`: who changed what in a project, newest first.

use super::PageQuery;
use crate::openapi::{InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::projects::ProjectPath;
use crate::{
    access::InProject,
    audit::{self, Scope},
    error::ApiError,
    http::ApiQuery,
};
use axum::Json;
use faro_types::{AuditEntry, Page};

/// The project's audit log, newest first. Any member may read it.
///
/// Problems, beyond what their status says:
/// - 503: DynamoDB is unavailable; retry shortly.
#[utoipa::path(
    get, path = "/api/projects/{slug}/audit", tag = "projects",
    params(ProjectPath, PageQuery),
    responses(
        (status = 200, description = "A page of audit entries, newest first", body = Page<AuditEntry>),
        NotSignedIn, NotFound, InvalidInput, Unavailable,
    )
)]
pub(super) async fn list_audit(
    InProject { caller, access }: InProject,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let ApiQuery(query) = query?;
    let limit = query.limit()?;
    audit::list(
        &caller.state,
        Scope::Project(access.project_id),
        query.cursor(),
        limit,
    )
    .await
    .map(Json)
}
