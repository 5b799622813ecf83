//! `GET /api/orgs/{org}/ai-usage`: what the organization spent of its daily token budget.

use super::budget;
use crate::openapi::{NotFound, NotSignedIn};
use crate::orgs::{InOrg, OrgPath};
use crate::{error::ApiError, openapi::Unavailable};
use axum::Json;
use faro_types::AiBudget;

/// The organization's DeepSeek tokens today (UTC) against its daily budget; any member may
/// look.
#[utoipa::path(
    get, path = "/api/orgs/{org}/ai-usage", tag = "ai",
    params(OrgPath),
    responses(
        (status = 200, description = "Tokens spent today (with those reserved by calls still running) and the daily budget", body = AiBudget),
        NotSignedIn, NotFound, Unavailable,
    )
)]
pub(super) async fn usage(InOrg { caller, access }: InOrg) -> Result<Json<AiBudget>, ApiError> {
    Ok(Json(budget::today_of(&caller.state, access.org_id).await?))
}
