//! `/api/orgs/{org}/sleakops-key` and what the key reaches. The key is verified with
//! SleakOps before it is stored, stored only sealed (`crate::sealing`), and never answered,
//! logged or audited: answers carry its last four characters at most.

use super::{InOrg, write::Lock};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::orgs::OrgPath;
use crate::{AppState, audit::Entry, error::ApiError, http::ApiJson, sealing};
use axum::{Json, http::StatusCode};
use faro_resilience::Secret;
use faro_sleakops::SleakOpsError;
use faro_types::{OrgRole, SetSleakopsKey, SleakopsKeyStatus, SleakopsProject};
use serde_json::json;
use std::time::Duration;

/// What SleakOps said of a call made with an organization's key, in the API's terms.
fn sleakops_problem(err: SleakOpsError, field: Option<&str>) -> ApiError {
    if err.is_key_rejected() {
        let detail = "SleakOps refused this API key (401): check it in SleakOps and set it again.";
        return match field {
            Some(field) => ApiError::conflict_on(field, detail),
            None => ApiError::conflict(detail),
        };
    }
    tracing::warn!(error = %err, "SleakOps call with an organization's key failed");
    ApiError::Unavailable {
        what: "SleakOps",
        detail: "SleakOps could not be reached; nothing was changed. Try again shortly.".into(),
        retry_after: Duration::from_secs(5),
    }
}

/// The SleakOps client of organization `org_id`'s key, or `None` when it has none.
pub async fn client_of(
    state: &AppState,
    org_id: u64,
) -> Result<Option<faro_sleakops::Client>, ApiError> {
    let Some(sealed) = sealing::store::sealed_key(&state.db, org_id).await? else {
        return Ok(None);
    };
    let key = state
        .keys
        .open(org_id, &sealed)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Some(state.external.sleakops.for_key(&key)))
}

/// Organization `org_id`'s current key, if it has one that opens.
async fn key_of(state: &AppState, org_id: u64) -> Option<Secret> {
    let sealed = sealing::store::sealed_key(&state.db, org_id).await.ok()??;
    state.keys.open(org_id, &sealed).ok()
}

/// Drops the client (and breaker) of a key that was replaced or removed.
fn forget(state: &AppState, key: Option<Secret>) {
    if let Some(key) = key {
        state.external.sleakops.forget(&key);
    }
}

/// The SleakOps projects (and their environments) organization `org_id`'s key reaches, or
/// `None` when it has no key.
pub async fn reachable(
    state: &AppState,
    org_id: u64,
) -> Result<Option<Vec<SleakopsProject>>, ApiError> {
    let Some(client) = client_of(state, org_id).await? else {
        return Ok(None);
    };
    let listing = client
        .projects()
        .await
        .map_err(|e| sleakops_problem(e, None))?;
    Ok(Some(
        listing
            .into_iter()
            .map(|p| SleakopsProject {
                name: p.name,
                environments: p.environments,
            })
            .collect(),
    ))
}

/// Refuses a SleakOps project (and environment) the organization's key does not reach,
/// naming `field`; without a key there is nothing to check against (releases are refused
/// until one is set).
pub async fn check_reach(
    state: &AppState,
    org_id: u64,
    project: &str,
    environment: Option<(&str, &str)>,
) -> Result<(), ApiError> {
    let Some(reach) = reachable(state, org_id).await? else {
        return Ok(());
    };
    let Some(found) = reach.iter().find(|p| p.name == project) else {
        let field = if environment.is_some() {
            "sleakops_environment"
        } else {
            "sleakops_project"
        };
        return Err(ApiError::conflict_on(
            field,
            format!("the organization's SleakOps key does not reach a project named {project}"),
        ));
    };
    if let Some((field, environment)) = environment
        && !found.environments.iter().any(|e| e == environment)
    {
        return Err(ApiError::conflict_on(
            field,
            format!(
                "SleakOps project {project} has no environment named {environment} that the \
                 organization's key reaches"
            ),
        ));
    }
    Ok(())
}

/// Set the organization's SleakOps API key. Owners only. SleakOps is asked first (an
/// authenticated call that answers 401 for a bad key); only a key it accepts is stored,
/// sealed.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
/// - 422: SleakOps refused the key (field `api_key`); nothing was stored.
/// - 503: SleakOps could not be reached to verify it; nothing was stored.
#[utoipa::path(
    put, path = "/api/orgs/{org}/sleakops-key", tag = "organizations",
    params(OrgPath),
    request_body = SetSleakopsKey,
    responses(
        (status = 200, description = "The key is verified and stored; its status (never the key)", body = SleakopsKeyStatus),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput, Unavailable,
    )
)]
pub(super) async fn set_sleakops_key(
    caller: InOrg,
    body: Result<ApiJson<SetSleakopsKey>, ApiError>,
) -> Result<Json<SleakopsKeyStatus>, ApiError> {
    let request = caller.body(OrgRole::Owner, body)?;
    request.validate()?;
    let key = Secret::new(request.api_key);
    let state = &caller.state;
    state
        .external
        .sleakops
        .for_key(&key)
        .verify()
        .await
        .map_err(|e| sleakops_problem(e, Some("api_key")))?;
    let org_id = caller.access.org_id;
    let sealed = state
        .keys
        .seal(org_id, key.expose())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let last4: String = {
        let chars: Vec<char> = key.expose().chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    let now = crate::db::now();
    let replaced = key_of(state, org_id).await;
    let mut write = caller.write(Lock::Caller, OrgRole::Owner).await?;
    sealing::store::store_key(write.tx(), org_id, &sealed, &last4, caller.user.id, now).await?;
    write
        .commit(
            Entry::new(
                "org.sleakops_key.set",
                format!("org:{}", caller.access.slug),
            )
            .details(json!({"last4": last4}).to_string()),
        )
        .await?;
    forget(state, replaced.filter(|old| old.expose() != key.expose()));
    Ok(Json(SleakopsKeyStatus {
        configured: true,
        last4: Some(last4),
        set_by: Some(caller.user.email.clone()),
        set_at: Some(now),
    }))
}

/// Remove the organization's SleakOps key: releases are refused until one is set again.
/// Owners only.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
#[utoipa::path(
    delete, path = "/api/orgs/{org}/sleakops-key", tag = "organizations",
    params(OrgPath),
    responses(
        (status = 204, description = "The organization has no SleakOps key"),
        NotSignedIn, Forbidden, NotFound,
    )
)]
pub(super) async fn delete_sleakops_key(caller: InOrg) -> Result<StatusCode, ApiError> {
    caller.access.require(OrgRole::Owner)?;
    let removed = key_of(&caller.state, caller.access.org_id).await;
    let mut write = caller.write(Lock::Caller, OrgRole::Owner).await?;
    if sealing::store::delete_key(write.tx(), caller.access.org_id).await? {
        write
            .commit(Entry::new(
                "org.sleakops_key.delete",
                format!("org:{}", caller.access.slug),
            ))
            .await?;
        forget(&caller.state, removed);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The SleakOps projects and environments the organization's key reaches: the names its
/// projects and environments may use.
///
/// Problems, beyond what their status says:
/// - 409: The organization has no SleakOps key, or SleakOps refuses it.
/// - 503: SleakOps could not be reached.
#[utoipa::path(
    get, path = "/api/orgs/{org}/sleakops/projects", tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The projects the key reaches, with their environments", body = Vec<SleakopsProject>),
        NotSignedIn, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn list_sleakops_projects(
    InOrg { caller, access }: InOrg,
) -> Result<Json<Vec<SleakopsProject>>, ApiError> {
    reachable(&caller.state, access.org_id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "Organization {} has no SleakOps API key: an owner sets it in the \
                 organization's settings.",
                access.slug
            ))
        })
}
