//! Release notes: drafted by DeepSeek from a changelog, stored on the release, and edited
//! by hand afterwards.

use super::{admit, deepseek_error, prompts, release_for};
use crate::{
    AppState, audit,
    auth::CurrentUser,
    error::ApiError,
    http::{ApiJson, ClientInfo},
    releases::store,
};
use axum::{
    Json,
    extract::{Path, State},
};
use faro_deepseek::ChatRequest;
use faro_types::{DraftNotes, MAX_NOTES, Problem, Release, ReleaseNotes, Role, UpdateRelease};

async fn store_notes(state: &AppState, id: u64, notes: Option<&str>) -> Result<(), ApiError> {
    let now = crate::db::now();
    sqlx::query("UPDATE releases SET notes = ?, updated_at = ? WHERE id = ?")
        .bind(notes)
        .bind(now)
        .bind(id)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Draft release notes from the commit messages or changelog given (and the release's
/// facts), and store them on the release.
#[utoipa::path(
    post, path = "/api/releases/{id}/notes", tag = "ai",
    params(("id" = u64, Path, description = "The release's id")),
    request_body = DraftNotes,
    responses(
        (status = 200, description = "The drafted notes, now stored on the release", body = ReleaseNotes),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writing notes needs the maintainer role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The changelog is empty or too long", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many AI requests from this user; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DeepSeek is unavailable, not configured or busy; see Retry-After. Nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn draft(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(id): Path<u64>,
    ApiJson(request): ApiJson<DraftNotes>,
) -> Result<Json<ReleaseNotes>, ApiError> {
    request.validate()?;
    let (access, release) = release_for(&state, &user, id, Role::Maintainer).await?;
    let (deepseek, _slot) = admit(&state, &user).await?;
    let answer = deepseek
        .chat(
            &ChatRequest::new(prompts::notes(&release, &request.changelog))
                .temperature(0.3)
                .max_tokens(state.config.ai.max_tokens),
        )
        .await
        .map_err(|e| deepseek_error(&state, e))?;
    let notes: String = answer.content.trim().chars().take(MAX_NOTES).collect();
    if notes.is_empty() {
        return Err(ApiError::Unavailable {
            what: "DeepSeek",
            detail: "an empty answer".into(),
            retry_after: std::time::Duration::from_secs(5),
        });
    }
    store_notes(&state, id, Some(&notes)).await?;
    audit::record(
        &state,
        audit::Event::new(
            audit::Scope::Project(access.project_id),
            &user,
            &client,
            "release.notes.draft",
            format!("release:{id}"),
        )
        .details(format!(
            "changelog_chars={} prompt_tokens={} completion_tokens={}",
            request.changelog.chars().count(),
            answer.usage.prompt_tokens,
            answer.usage.completion_tokens
        )),
    )
    .await;
    Ok(Json(ReleaseNotes { notes }))
}

/// Edit the release's notes (`null` clears them).
#[utoipa::path(
    patch, path = "/api/releases/{id}", tag = "releases",
    params(("id" = u64, Path, description = "The release's id")),
    request_body = UpdateRelease,
    responses(
        (status = 200, description = "The release with its new notes", body = Release),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Editing notes needs the maintainer role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The notes are too long, or an unknown field was sent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(id): Path<u64>,
    ApiJson(request): ApiJson<UpdateRelease>,
) -> Result<Json<Release>, ApiError> {
    request.validate()?;
    let (access, _) = release_for(&state, &user, id, Role::Maintainer).await?;
    store_notes(&state, id, request.notes.as_deref()).await?;
    audit::record(
        &state,
        audit::Event::new(
            audit::Scope::Project(access.project_id),
            &user,
            &client,
            "release.notes.edit",
            format!("release:{id}"),
        )
        .details(format!(
            "notes_chars={}",
            request.notes.as_deref().map_or(0, |n| n.chars().count())
        )),
    )
    .await;
    let (_, release) = store::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(release))
}
