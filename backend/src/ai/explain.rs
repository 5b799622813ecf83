//! Why a failed release failed, and what to try: from its failure reason (which carries
//! SleakOps' errors) and its timeline.

use super::{admit, deepseek_error, prompts, release_for};
use crate::{AppState, auth::CurrentUser, error::ApiError, releases::timeline};
use axum::{
    Json,
    extract::{Path, State},
};
use faro_deepseek::ChatRequest;
use faro_types::{Explanation, Problem, ReleaseStatus, Role};

/// Explain a failed release and suggest fixes.
#[utoipa::path(
    post, path = "/api/releases/{id}/explain", tag = "ai",
    params(("id" = u64, Path, description = "The release's id")),
    responses(
        (status = 200, description = "The likely cause and suggested fixes", body = Explanation),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The release has not failed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many AI requests from this user; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DeepSeek is unavailable, not configured or busy; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn explain(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<u64>,
) -> Result<Json<Explanation>, ApiError> {
    let (_, release) = release_for(&state, &user, id, Role::Viewer).await?;
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
    let (deepseek, _slot) = admit(&state, &user).await?;
    let answer = deepseek
        .chat(
            &ChatRequest::new(prompts::explain(&release, &events))
                .temperature(0.2)
                .max_tokens(state.config.ai.max_tokens),
        )
        .await
        .map_err(|e| deepseek_error(&state, e))?;
    let (explanation, suggested_fixes) = prompts::parse_explanation(&answer.content);
    Ok(Json(Explanation {
        explanation,
        suggested_fixes,
    }))
}
