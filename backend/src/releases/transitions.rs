//! Changing a release's course: cancel one that has not finished, retry one that failed or
//! was cancelled. Transitions the status does not allow are 409.

use super::{
    create::{self, Plan},
    idempotency, query, store,
    store::NewRelease,
    timeline::{self, NewEvent},
};
use crate::{AppState, audit, auth::CurrentUser, error::ApiError, http::ClientInfo};
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::{DateTime, Utc};
use faro_types::{EventKind, Problem, Release, ReleaseStatus, Role, UserRef};

fn not_cancellable(id: u64, status: ReleaseStatus) -> ApiError {
    ApiError::Conflict {
        detail: format!(
            "Release {id} is {}; only queued, building or deploying releases can be cancelled.",
            status.as_str()
        ),
        field: Some("status".into()),
    }
}

/// Cancel a release that has not finished. Its pending outbox work is dropped.
#[utoipa::path(
    post, path = "/api/releases/{id}/cancel", tag = "releases",
    params(("id" = u64, Path, description = "The release's id")),
    responses(
        (status = 200, description = "The release, now cancelled", body = Release),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cancelling needs the maintainer role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The release already finished; the detail names its status", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DynamoDB or MySQL is unavailable; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(id): Path<u64>,
) -> Result<Json<Release>, ApiError> {
    let access = query::access(&state, &user, id).await?;
    access.require(Role::Maintainer)?;

    let mut tx = state.db.begin().await?;
    let (status, _) = store::lock(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    if !status.can_cancel() {
        return Err(not_cancellable(id, status));
    }
    let now = crate::db::now();
    sqlx::query(
        "UPDATE releases SET status = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let dropped = sqlx::query(
        "UPDATE outbox SET done = TRUE, updated_at = ? WHERE release_id = ? AND done = FALSE",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let event = NewEvent::new(
        EventKind::Cancelled,
        ReleaseStatus::Cancelled,
        format!("{} cancelled the release", user.name),
    )
    .by(UserRef {
        id: user.id,
        name: user.name.clone(),
    });
    let event = timeline::append(&state, &mut tx, id, event).await?;
    tx.commit().await?;
    state.release_events.publish(id, event);

    audit::record(
        &state,
        audit::Event::new(
            audit::Scope::Project(access.project_id),
            &user,
            &client,
            "release.cancel",
            format!("release:{id}"),
        )
        .details(format!(
            "status={} -> cancelled; outbox rows dropped={dropped}",
            status.as_str()
        )),
    )
    .await;
    let (_, release) = store::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(release))
}

/// Retry a failed or cancelled release: a new release of the same commit to the same
/// environment, linked to this one by `retry_of`.
#[utoipa::path(
    post, path = "/api/releases/{id}/retry", tag = "releases",
    params(
        ("id" = u64, Path, description = "The id of the release to retry"),
        ("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters, unique per retry you mean to make; a repeat answers with the same new release"),
    ),
    responses(
        (status = 201, description = "The new release, queued", body = Release,
            headers(("Location" = String, description = "The new release's URL"))),
        (status = 200, description = "A repeat of an earlier retry with this Idempotency-Key: the release it created", body = Release),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Retrying needs the maintainer role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or not a member of its project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The release is not failed or cancelled (the detail names its status), or a request with the same Idempotency-Key is still being processed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key is missing, malformed or was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DynamoDB or MySQL is unavailable; nothing was recorded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn retry(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let access = query::access(&state, &user, id).await?;
    access.require(Role::Maintainer)?;
    let key = idempotency::key_from(&headers).map_err(|e| ApiError::Validation(vec![e]))?;
    let hash = idempotency::request_hash(&["retry", &id.to_string()]);

    type Row = (
        u64,
        String,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        String,
        String,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT r.environment_id, r.branch, r.commit_sha, r.tag, r.commit_time, r.status, e.name \
             FROM releases r JOIN environments e ON e.id = r.environment_id WHERE r.id = ?",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let (environment_id, branch, commit_sha, tag, commit_time, status, environment) =
        row.ok_or(ApiError::NotFound)?;
    let status = store::status_of(&status)?;
    let plan = Plan {
        new: NewRelease {
            project_id: access.project_id,
            environment_id,
            commit_sha: commit_sha.clone(),
            tag,
            commit_time,
            requested_by: user.id,
            requested_at: crate::db::now(),
            retry_of: Some(id),
            branch: branch.clone(),
        },
        message: format!(
            "{} retried release #{id}: {branch} ({}) to {environment}",
            user.name,
            create::short(&commit_sha)
        ),
    };
    // Checked again under the row lock in the transaction; this answers most cases early.
    if !status.can_retry() {
        return Err(create::not_retryable(id, status));
    }
    let (code, release) = create::run(&state, &user, &key, &hash, &plan).await?;
    if code == StatusCode::CREATED {
        audit::record(
            &state,
            audit::Event::new(
                audit::Scope::Project(access.project_id),
                &user,
                &client,
                "release.retry",
                format!("release:{}", release.id),
            )
            .details(format!("retry_of={id}")),
        )
        .await;
    }
    Ok(create::respond(code, release))
}
