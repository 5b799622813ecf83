//! Release notes: drafted by DeepSeek from a changelog, stored on the release, and edited
//! by hand afterwards.

use super::{complete, prompts, release_for};
use crate::openapi::{
    Forbidden, InvalidInput, NotFound, NotSignedIn, TooManyRequests, Unavailable,
};
use crate::releases::ReleasePath;
use crate::{
    access::ProjectAccess,
    audit::Entry,
    auth::Caller,
    error::ApiError,
    http::ApiJson,
    releases::store,
    write::{Lock, ProjectWrite},
};
use axum::{Json, extract::Path};
use faro_types::{DraftNotes, MAX_NOTES, Release, ReleaseNotes, Role, UpdateRelease};

/// Stores `notes` on release `id` as a write of `access`'s project, audited as `entry`.
async fn store_notes(
    caller: &Caller,
    access: &ProjectAccess,
    id: u64,
    notes: Option<&str>,
    entry: Entry,
) -> Result<(), ApiError> {
    let mut write = ProjectWrite::begin(caller, access, Lock::Caller, Role::Maintainer).await?;
    store::set_notes(write.tx(), id, notes, crate::db::now()).await?;
    write.commit(entry).await
}

/// Draft release notes from the commit messages or changelog given (and the release's
/// facts), and store them on the release.
///
/// Problems, beyond what their status says:
/// - 403: Writing notes needs the maintainer role.
/// - 422: The changelog is empty or too long.
/// - 429: Too many AI requests from this user (per minute, or in flight at once), or the
///   organization's daily token budget is spent; see Retry-After.
/// - 503: DeepSeek is unavailable, not configured or busy, or did not answer within the AI
///   timeout; see Retry-After. Nothing changed.
#[utoipa::path(
    post, path = "/api/releases/{id}/notes", tag = "ai",
    params(ReleasePath),
    request_body = DraftNotes,
    responses(
        (status = 200, description = "The drafted notes, now stored on the release", body = ReleaseNotes),
        NotSignedIn, Forbidden, NotFound, InvalidInput, TooManyRequests, Unavailable,
    )
)]
pub(super) async fn draft(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    ApiJson(request): ApiJson<DraftNotes>,
) -> Result<Json<ReleaseNotes>, ApiError> {
    request.validate()?;
    let Caller { state, user, .. } = &caller;
    let (access, release) = release_for(state, user, id, Role::Maintainer).await?;
    let messages = prompts::notes(&release, &request.changelog);
    let answer = complete(state, user, access.org_id, messages, 0.3).await?;
    let notes: String = answer.content.trim().chars().take(MAX_NOTES).collect();
    if notes.is_empty() {
        return Err(ApiError::Unavailable {
            what: "DeepSeek",
            detail: "an empty answer".into(),
            retry_after: std::time::Duration::from_secs(5),
        });
    }
    let entry = Entry::new("release.notes.draft", format!("release:{id}")).details(format!(
        "changelog_chars={} prompt_tokens={} completion_tokens={}",
        request.changelog.chars().count(),
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens
    ));
    store_notes(&caller, &access, id, Some(&notes), entry).await?;
    Ok(Json(ReleaseNotes { notes }))
}

/// Edit the release's notes (`null` clears them).
///
/// Problems, beyond what their status says:
/// - 403: Editing notes needs the maintainer role.
/// - 422: The notes are too long, or an unknown field was sent.
#[utoipa::path(
    patch, path = "/api/releases/{id}", tag = "releases",
    params(ReleasePath),
    request_body = UpdateRelease,
    responses(
        (status = 200, description = "The release with its new notes", body = Release),
        NotSignedIn, Forbidden, NotFound, InvalidInput,
    )
)]
pub(super) async fn update(
    caller: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    ApiJson(request): ApiJson<UpdateRelease>,
) -> Result<Json<Release>, ApiError> {
    request.validate()?;
    let (access, _) = release_for(&caller.state, &caller.user, id, Role::Maintainer).await?;
    let entry = Entry::new("release.notes.edit", format!("release:{id}")).details(format!(
        "notes_chars={}",
        request.notes.as_deref().map_or(0, |n| n.chars().count())
    ));
    let notes = request.notes.as_deref();
    store_notes(&caller, &access, id, notes, entry).await?;
    let (_, release) = store::find(&caller.state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(release))
}
