//! Creating a release: `POST /api/projects/{slug}/releases`, and the flow a retry shares.
//!
//! The order makes a crash at any point harmless: in one MySQL transaction the release
//! (queued, `event_seq = 1`, carrying its idempotency key) and its outbox row are inserted;
//! before the commit, the first timeline event is put in DynamoDB; then the transaction
//! commits. A DynamoDB failure rolls everything back (503); a crash or a commit failure
//! leaves a claimed key without a release, which a repeat takes over once the lease ends.

use super::{
    idempotency::{self, Begin, Claim},
    store::{self, NewRelease},
    timeline::{self, NewEvent, TimelineError},
};
use crate::{
    AppState,
    access::ProjectAccess,
    audit,
    auth::CurrentUser,
    error::ApiError,
    http::{ApiJson, ClientInfo},
};
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::SubsecRound;
use faro_types::{
    CreateRelease, EventKind, Problem, Release, ReleaseStatus, Role, TimelineEvent, UserRef,
};

/// Request a build and deployment of a commit to one of the project's environments.
#[utoipa::path(
    post, path = "/api/projects/{slug}/releases", tag = "releases",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters, unique per release you mean to create (such as a UUID); a repeat with the same key and body answers with the same release"),
    ),
    request_body = CreateRelease,
    responses(
        (status = 201, description = "Release queued", body = Release,
            headers(("Location" = String, description = "The release's URL"))),
        (status = 200, description = "A repeat of an earlier request with this Idempotency-Key: the release it created", body = Release),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Releasing needs the maintainer role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same Idempotency-Key is still being processed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown environment, or an Idempotency-Key that is missing, malformed or was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DynamoDB or MySQL is unavailable; nothing was recorded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(slug): Path<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateRelease>,
) -> Result<Response, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Maintainer)?;
    let key = idempotency::key_from(&headers);
    let mut errors = request.validate().err().unwrap_or_default();
    errors.extend(key.as_ref().err().cloned());
    let key = match key {
        Ok(key) if errors.is_empty() => key,
        _ => return Err(ApiError::Validation(errors)),
    };
    let request = CreateRelease {
        commit_sha: request.commit_sha.to_ascii_lowercase(),
        // Stored at MySQL's precision, so the answer equals what later reads return.
        commit_time: request.commit_time.map(|t| t.trunc_subsecs(6)),
        ..request
    };
    let environment: Option<(u64,)> =
        sqlx::query_as("SELECT id FROM environments WHERE project_id = ? AND name = ?")
            .bind(access.project_id)
            .bind(&request.environment)
            .fetch_optional(&state.db)
            .await?;
    let Some((environment_id,)) = environment else {
        return Err(ApiError::field(
            "environment",
            format!("project {} has no environment of this name", access.slug),
        ));
    };
    let canonical =
        serde_json::to_string(&request).map_err(|e| ApiError::Internal(e.to_string()))?;
    let hash = idempotency::request_hash(&["create", &access.slug, &canonical]);
    let plan = Plan {
        new: NewRelease {
            project_id: access.project_id,
            environment_id,
            branch: request.branch.clone(),
            commit_sha: request.commit_sha.clone(),
            tag: request.tag.clone(),
            commit_time: request.commit_time,
            requested_by: user.id,
            requested_at: crate::db::now(),
            retry_of: None,
        },
        message: format!(
            "{} requested a release of {} ({}) to {}",
            user.name,
            request.branch,
            short(&request.commit_sha),
            request.environment
        ),
    };
    let (status, release) = run(&state, &user, &key, &hash, &plan).await?;
    if status == StatusCode::CREATED {
        audit::record(
            &state,
            audit::Event::new(
                audit::Scope::Project(access.project_id),
                &user,
                &client,
                "release.create",
                format!("release:{}", release.id),
            )
            .details(format!(
                "environment={} branch={} commit_sha={}{}",
                release.environment,
                release.branch,
                release.commit_sha,
                release
                    .tag
                    .as_ref()
                    .map(|t| format!(" tag={t}"))
                    .unwrap_or_default()
            )),
        )
        .await;
    }
    Ok(respond(status, release))
}

/// The abbreviated SHA people recognise.
pub(super) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// 201 with `Location` for a new release, 200 for a repeat.
pub(super) fn respond(status: StatusCode, release: Release) -> Response {
    let location = HeaderValue::from_str(&format!("/api/releases/{}", release.id))
        .expect("a path of digits is a valid header");
    (status, [(header::LOCATION, location)], Json(release)).into_response()
}

/// A release to record, decided by the request.
#[derive(Debug)]
pub(super) struct Plan {
    pub new: NewRelease,
    /// The first timeline event's message.
    pub message: String,
}

enum Failure {
    /// The key created a release meanwhile (this request outlived its lease and another one
    /// took the key over): answer with that release.
    KeyUsed,
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        // The only unique key a new release can violate is its idempotency key.
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::KeyUsed,
            _ => Self::Api(err.into()),
        }
    }
}

impl From<TimelineError> for Failure {
    fn from(err: TimelineError) -> Self {
        Self::Api(err.into())
    }
}

/// Records `plan` under the idempotency key, or answers with the release the key already
/// made: `(201, new release)` or `(200, earlier release)`.
pub(super) async fn run(
    state: &AppState,
    user: &CurrentUser,
    key: &str,
    hash: &str,
    plan: &Plan,
) -> Result<(StatusCode, Release), ApiError> {
    // A key used meanwhile (by the request that took this one's lease over) sends us back
    // to find its release; twice is plenty.
    for _ in 0..3 {
        let (status, id) = match idempotency::begin(state, user.id, key, hash).await? {
            Begin::Replay(id) => (StatusCode::OK, id),
            Begin::Claimed(claim) => match record(state, user, &claim, plan).await {
                Ok(id) => (StatusCode::CREATED, id),
                Err(Failure::KeyUsed) => continue,
                Err(Failure::Api(err)) => {
                    claim.abandon(state).await;
                    return Err(err);
                }
            },
        };
        let (_, release) = store::find(&state.db, id)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("release {id} vanished")))?;
        return Ok((status, release));
    }
    Err(idempotency::still_running())
}

/// The transaction of one new release; see the module documentation for the order.
async fn record(
    state: &AppState,
    user: &CurrentUser,
    claim: &Claim,
    plan: &Plan,
) -> Result<u64, Failure> {
    let actor = UserRef {
        id: user.id,
        name: user.name.clone(),
    };
    let mut tx = state.db.begin().await?;
    let mut published: Vec<(u64, TimelineEvent)> = Vec::new();
    let retried = match plan.new.retry_of {
        Some(old) => {
            let (status, _) = store::lock(&mut tx, old).await?.ok_or(ApiError::NotFound)?;
            if !status.can_retry() {
                return Err(not_retryable(old, status).into());
            }
            Some((old, status))
        }
        None => None,
    };
    let id = store::insert(&mut tx, &plan.new, claim.key_hash()).await?;
    if let Some((old, status)) = retried {
        let event = NewEvent::new(
            EventKind::Retried,
            status,
            format!("{} retried this release as release #{id}", user.name),
        )
        .by(actor.clone());
        let event = timeline::append(state, &mut tx, old, event).await?;
        published.push((old, event));
    }
    let first = NewEvent::new(EventKind::Requested, ReleaseStatus::Queued, &plan.message)
        .by(actor)
        .numbered(1, plan.new.requested_at);
    timeline::put(&state.writes, id, &first).await?;
    published.push((id, first));
    tx.commit().await?;
    for (release_id, event) in published {
        state.release_events.publish(release_id, event);
    }
    Ok(id)
}

pub(super) fn not_retryable(id: u64, status: ReleaseStatus) -> ApiError {
    ApiError::Conflict {
        detail: format!(
            "Release {id} is {}; only failed or cancelled releases can be retried.",
            status.as_str()
        ),
        field: Some("status".into()),
    }
}
