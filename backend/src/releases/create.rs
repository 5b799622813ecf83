//! Creating a release: `POST /api/projects/{slug}/releases`, and the flow a retry shares.
//!
//! The order makes a crash at any point harmless: in one MySQL transaction the release
//! (queued, `event_seq = 1`, carrying its idempotency key) and its outbox row are inserted;
//! before the commit, the first timeline event is put in DynamoDB; then the transaction
//! commits. A DynamoDB failure rolls everything back (503); a crash or a commit failure
//! leaves a claimed key without a release, which a repeat takes over once the lease ends.

use super::{
    approval,
    idempotency::{self, Begin, Claim},
    store::{self, Commit, NewRelease, ReleaseRule},
    timeline::{self, NewEvent, TimelineError},
};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::projects::{self, ProjectPath, store::ProjectKey};
use crate::{
    access::ProjectAccess,
    audit::Entry,
    auth::Caller,
    db::Read,
    error::ApiError,
    http::ApiJson,
    write::{Lock, ProjectWrite},
};
use axum::{
    Json,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::SubsecRound;
use faro_types::{
    BRANCH_HEAD, CreateRelease, Environment, EventKind, Release, ReleaseStatus, Role, UserRef,
    short_commit,
};

/// Request a build and deployment of a commit to one of the project's environments.
///
/// Problems, beyond what their status says:
/// - 403: Releasing needs the maintainer role; to a production environment that does not
///   require approval, a project owner or an organization owner or admin.
/// - 409: A request with the same Idempotency-Key is still being processed.
/// - 422: Invalid fields, unknown environment, an organization without a SleakOps API key (field `environment`), or an Idempotency-Key that is missing, malformed or was used for a different request.
/// - 503: DynamoDB or MySQL is unavailable; nothing was recorded.
#[utoipa::path(
    post, path = "/api/projects/{slug}/releases", tag = "releases",
    params(
        ProjectPath,
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1–255 visible ASCII characters, unique per release you mean to create (such as a UUID); a repeat with the same key and body answers with the same release"),
    ),
    request_body = CreateRelease,
    responses(
        (status = 201, description = "Release queued, or awaiting approval when the environment requires it", body = Release,
            headers(("Location" = String, description = "The release's URL"))),
        (status = 200, description = "A repeat of an earlier request with this Idempotency-Key: the release it created", body = Release),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn create(
    caller: Caller,
    Path(ProjectPath { slug }): Path<ProjectPath>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateRelease>,
) -> Result<Response, ApiError> {
    let Caller { state, user, .. } = &caller;
    let access = ProjectAccess::load(state, user, ProjectKey::Slug(&slug)).await?;
    access.require(Role::Maintainer)?;
    let key = idempotency::key_and_body(&headers, request.validate())?;
    let request = CreateRelease {
        commit_sha: request.commit_sha.map(|sha| sha.to_ascii_lowercase()),
        // Stored at MySQL's precision, so the answer equals what later reads return.
        commit_time: request.commit_time.map(|t| t.trunc_subsecs(6)),
        ..request
    };
    let Environment {
        id: environment_id,
        production,
        requires_approval,
        ..
    } = environment_named(state, &access, &request.environment).await?;
    let rule = ReleaseRule {
        production,
        requires_approval,
    };
    approval::require_to_release(&access, rule, "release to")?;
    needs_sleakops_key(state, &access).await?;
    let canonical =
        serde_json::to_string(&request).map_err(|e| ApiError::Internal(e.to_string()))?;
    let hash = idempotency::request_hash(&["create", &access.slug, &canonical]);
    let plan = Plan {
        new: NewRelease {
            project_id: access.project_id,
            commit: Commit {
                environment_id,
                branch: request.branch.clone(),
                commit_sha: request.commit_sha.clone(),
                tag: request.tag.clone(),
                commit_time: request.commit_time,
            },
            requested_by: user.id,
            requested_at: crate::db::now(),
            retry_of: None,
            promoted_from: None,
            rollback_of: None,
            build_of: None,
            build: None,
            approval_expires_at: None,
        },
        message: format!(
            "{} requested a release of {} ({}) to {}",
            user.name,
            request.branch,
            short_commit(request.commit_sha.as_deref()),
            request.environment
        ),
        linked: None,
        action: "release.create",
        details: format!(
            "environment={} branch={} commit_sha={}{}",
            request.environment,
            request.branch,
            request.commit_sha.as_deref().unwrap_or(BRANCH_HEAD),
            request
                .tag
                .as_ref()
                .map(|t| format!(" tag={t}"))
                .unwrap_or_default()
        ),
    };
    let (status, release) = run(&caller, &access, &key, &hash, &plan).await?;
    Ok(respond(status, release))
}

/// The project's environment `name` (the request's field `environment`), or 409 naming it.
pub(super) async fn environment_named(
    state: &crate::AppState,
    access: &ProjectAccess,
    name: &str,
) -> Result<Environment, ApiError> {
    projects::store::environment(&state.db, access.project_id, name, Read::Plain)
        .await?
        .ok_or_else(|| {
            ApiError::conflict_on(
                "environment",
                format!("project {} has no environment of this name", access.slug),
            )
        })
}

/// Refuses a release the worker could not send: the project's organization has no SleakOps
/// key (a release is never queued to fail later).
pub(super) async fn needs_sleakops_key(
    state: &crate::AppState,
    access: &ProjectAccess,
) -> Result<(), ApiError> {
    if crate::sealing::store::sealed_key(&state.db, access.org_id)
        .await?
        .is_none()
    {
        return Err(ApiError::conflict_on(
            "environment",
            "this project's organization has no SleakOps API key, so nothing can be built or \
             deployed: an owner of the organization sets it in the organization's settings \
             (PUT /api/orgs/{org}/sleakops-key)",
        ));
    }
    Ok(())
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
    /// The release this one follows from, whose timeline tells of it.
    pub linked: Option<Linked>,
    /// The audit entry's action and details.
    pub action: &'static str,
    pub details: String,
}

/// A release a new one follows from (retries, promotes or rolls back): it is locked while
/// the new one is recorded, and its timeline gets an event of `kind` saying
/// "`said` as release #N".
#[derive(Debug)]
pub(super) struct Linked {
    pub release: u64,
    pub kind: EventKind,
    pub said: String,
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
        Self::Api(err.into())
    }
}

impl From<TimelineError> for Failure {
    fn from(err: TimelineError) -> Self {
        Self::Api(err.into())
    }
}

/// Records `plan` as `caller`'s release in `access`'s project under the idempotency key, or
/// answers with the release the key already made: `(201, new release)` or
/// `(200, earlier release)`.
pub(super) async fn run(
    caller: &Caller,
    access: &ProjectAccess,
    key: &str,
    hash: &str,
    plan: &Plan,
) -> Result<(StatusCode, Release), ApiError> {
    let Caller { state, user, .. } = caller;
    // A key used meanwhile (by the request that took this one's lease over) sends us back
    // to find its release; twice is plenty.
    for _ in 0..3 {
        let (status, id) = match idempotency::begin(state, user.id, key, hash).await? {
            Begin::Replay(id) => (StatusCode::OK, id),
            Begin::Claimed(claim) => match record(caller, access, &claim, plan).await {
                Ok(id) => (StatusCode::CREATED, id),
                Err(Failure::KeyUsed) => continue,
                Err(Failure::Api(err)) => {
                    claim.abandon(state).await;
                    return Err(err);
                }
            },
        };
        let (project_id, release) = store::find(&state.db, id)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("release {id} vanished")))?;
        // A key outlives its DynamoDB record (24 h) in MySQL: a replay names the release
        // only within the project the caller may act on now.
        if project_id != access.project_id {
            return Err(idempotency::reused());
        }
        return Ok((status, release));
    }
    Err(idempotency::still_running())
}

/// The transaction of one new release; see the module documentation for the order.
async fn record(
    caller: &Caller,
    access: &ProjectAccess,
    claim: &Claim,
    plan: &Plan,
) -> Result<u64, Failure> {
    let Caller { state, user, .. } = caller;
    let actor = UserRef {
        id: user.id,
        name: user.name.clone(),
    };
    let mut write = ProjectWrite::begin(caller, access, Lock::Caller, Role::Maintainer).await?;
    let rule = store::release_rule(write.tx(), plan.new.commit.environment_id).await?;
    approval::require_to_release(write.access(), rule, "release to")?;
    let new = NewRelease {
        approval_expires_at: rule
            .requires_approval
            .then(|| plan.new.requested_at + expiry(state)),
        ..plan.new.clone()
    };
    let linked = match &plan.linked {
        Some(linked) => {
            let (status, _) = store::progress(write.tx(), linked.release, Read::ForUpdate)
                .await?
                .ok_or(ApiError::NotFound)?;
            if linked.kind == EventKind::Retried && !status.can_retry() {
                return Err(not_retryable(linked.release, status).into());
            }
            Some((linked, status))
        }
        None => None,
    };
    // The only unique key a new release can violate is its idempotency key.
    let Some(id) = store::insert(write.tx(), &new, claim.key_hash()).await? else {
        return Err(Failure::KeyUsed);
    };
    if let Some((linked, status)) = linked {
        let said = format!("{} as release #{id}", linked.said);
        let event = NewEvent::new(linked.kind, status, said).by(actor.clone());
        let event = timeline::append(state, write.tx(), linked.release, event).await?;
        write.publish(linked.release, event);
    }
    let first = NewEvent::new(EventKind::Requested, new.status(), &plan.message)
        .by(actor)
        .numbered(1, new.requested_at);
    timeline::put(&state.writes, id, &first).await?;
    write.publish(id, first);
    if let Some(expires_at) = new.approval_expires_at {
        let waiting = approval::requested(&user.name, expires_at);
        let waiting = timeline::append(state, write.tx(), id, waiting).await?;
        write.publish(id, waiting);
    }
    write
        .commit(Entry::new(plan.action, format!("release:{id}")).details(plan.details.clone()))
        .await?;
    Ok(id)
}

/// How long a release waits for approval.
fn expiry(state: &crate::AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.config.approval_expiry).unwrap_or(chrono::Duration::MAX)
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
