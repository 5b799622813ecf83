//! Why a failed release failed, and what to try: from its failure reason (which carries
//! SleakOps' errors) and its timeline.

use super::{complete, prompts, release_for};
use crate::openapi::{
    Conflict, ForeignOrigin, NotFound, NotSignedIn, TooManyRequests, Unavailable,
};
use crate::releases::ReleasePath;
use crate::{auth::Caller, error::ApiError, releases::timeline};
use axum::{Json, extract::Path};
use faro_types::{Explanation, ReleaseStatus, Role};

/// Explain a failed release and suggest fixes.
///
/// Problems, beyond what their status says:
/// - 409: The release has not failed.
/// - 429: Too many AI requests from this user (per minute, or in flight at once), or the
///   organization's daily token budget is spent; see Retry-After.
/// - 503: DeepSeek is unavailable, not configured or busy, or did not answer within the AI
///   timeout; see Retry-After.
#[utoipa::path(
    post, path = "/api/releases/{id}/explain", tag = "ai",
    params(ReleasePath),
    responses(
        (status = 200, description = "The likely cause and suggested fixes", body = Explanation),
        NotSignedIn, ForeignOrigin, NotFound, Conflict, TooManyRequests, Unavailable,
    )
)]
pub(super) async fn explain(
    Caller { state, user, .. }: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
) -> Result<Json<Explanation>, ApiError> {
    let (access, release) = release_for(&state, &user, id, Role::Viewer).await?;
    if release.status != ReleaseStatus::Failed {
        return Err(ApiError::Conflict {
            detail: format!(
                "Release {id} is {}; only failed releases can be explained.",
                release.status.as_str()
            ),
            field: Some("status".into()),
        });
    }
    let mut events =
        timeline::newest(&state.dynamo, &state.table, id, prompts::TIMELINE_EVENTS).await?;
    events.reverse();
    let messages = prompts::explain(&release, &events);
    let answer = complete(&state, &user, access.org_id, messages, 0.2).await?;
    let (explanation, suggested_fixes) = prompts::parse_explanation(&answer.content);
    Ok(Json(Explanation {
        explanation,
        suggested_fixes,
    }))
}
