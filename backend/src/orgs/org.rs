//! `/api/orgs` and `/api/orgs/{org}`.

use super::{InOrg, slug_from, store, write::Lock};
use crate::openapi::{
    Conflict, Forbidden, ForeignOrigin, InvalidInput, NotFound, NotSignedIn, Unavailable,
};
use crate::orgs::OrgPath;
use crate::projects::PageQuery;
use crate::{
    audit::{self, Entry, Scope},
    auth::{Caller, CurrentUser},
    error::ApiError,
    http::{ApiJson, ApiQuery},
};
use axum::{Json, http::StatusCode};
use chrono::{DateTime, Utc};
use faro_types::{
    AuditEntry, CreateOrg, MAX_ORGS_PER_ACCOUNT, OrgRole, Organization, Page, UpdateOrg,
};
use serde_json::json;
use sqlx::MySqlConnection;

/// Refuses joining one more organization past [`MAX_ORGS_PER_ACCOUNT`].
pub(super) async fn room_for_one_more(
    tx: &mut MySqlConnection,
    user_id: u64,
) -> Result<(), ApiError> {
    if store::count_orgs_of(tx, user_id).await? >= MAX_ORGS_PER_ACCOUNT as i64 {
        return Err(ApiError::conflict(format!(
            "An account may belong to at most {MAX_ORGS_PER_ACCOUNT} organizations; leave one first."
        )));
    }
    Ok(())
}

/// Creates `user`'s own organization named `name` (sign-up without an invitation), with a
/// slug derived from the name and made unique: its id and slug.
pub async fn create_own(
    tx: &mut MySqlConnection,
    user_id: u64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(u64, String), ApiError> {
    let base = slug_from(name);
    // A few readable candidates, then random ones: a taken slug costs a duplicate-key
    // error, never a wrong organization.
    for attempt in 0..8u32 {
        let slug = match attempt {
            0 => base.clone(),
            1..=3 => format!("{base}-{}", attempt + 1),
            _ => {
                let mut suffix = [0u8; 3];
                getrandom::fill(&mut suffix).map_err(|e| ApiError::Internal(e.to_string()))?;
                format!("{base}-{}", hex::encode(suffix))
            }
        };
        if let Some(id) = store::insert_org(tx, &slug, name, user_id, now).await? {
            store::insert_member(tx, id, user_id, OrgRole::Owner, now).await?;
            return Ok((id, slug));
        }
    }
    Err(ApiError::Internal(format!(
        "no free organization slug derived from {base}"
    )))
}

/// The default name of the organization a person named `name` creates at sign-up.
pub fn default_name(name: &str) -> String {
    let name = format!("{}'s organization", name.trim());
    name.chars().take(100).collect()
}

async fn fetch(
    caller: &CurrentUser,
    db: &sqlx::MySqlPool,
    org_id: u64,
) -> Result<Organization, ApiError> {
    store::org(db, org_id, caller.id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Create an organization; the caller becomes its owner.
///
/// Problems, beyond what their status says:
/// - 409: The slug is taken (field `slug`), or the caller already belongs to 50 organizations.
#[utoipa::path(
    post, path = "/api/orgs", tag = "organizations",
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Organization created; the caller is its owner", body = Organization),
        NotSignedIn, ForeignOrigin, Conflict, InvalidInput,
    )
)]
pub(super) async fn create_org(
    caller: Caller,
    ApiJson(request): ApiJson<CreateOrg>,
) -> Result<(StatusCode, Json<Organization>), ApiError> {
    request.validate()?;
    let name = request.name.trim();
    let now = crate::db::now();
    let Caller {
        state,
        user,
        client,
    } = &caller;
    let mut tx = state.db.begin().await?;
    room_for_one_more(&mut tx, user.id).await?;
    let id = store::insert_org(&mut tx, &request.slug, name, user.id, now)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            detail: format!("An organization with the slug {} exists.", request.slug),
            field: Some("slug".into()),
        })?;
    store::insert_member(&mut tx, id, user.id, OrgRole::Owner, now).await?;
    tx.commit().await?;
    let entry = Entry::new("org.create", format!("org:{}", request.slug))
        .details(json!({"name": name}).to_string());
    audit::record(
        state,
        audit::Event::new(Scope::Org(id), user, client, entry),
    )
    .await;
    Ok((StatusCode::CREATED, Json(fetch(user, &state.db, id).await?)))
}

/// The organizations the caller belongs to, by slug.
#[utoipa::path(
    get, path = "/api/orgs", tag = "organizations",
    responses(
        (status = 200, description = "The caller's organizations (at most 50), by slug", body = Vec<Organization>),
        NotSignedIn,
    )
)]
pub(super) async fn list_orgs(
    Caller { state, user, .. }: Caller,
) -> Result<Json<Vec<Organization>>, ApiError> {
    Ok(Json(store::orgs_of(&state.db, user.id).await?))
}

/// One organization, with the caller's role and its SleakOps key's status (never the key).
#[utoipa::path(
    get, path = "/api/orgs/{org}", tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The organization", body = Organization),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn get_org(
    InOrg { caller, access }: InOrg,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(
        fetch(&caller.user, &caller.state.db, access.org_id).await?,
    ))
}

/// Rename the organization. Owners only; the slug never changes.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
#[utoipa::path(
    patch, path = "/api/orgs/{org}", tag = "organizations",
    params(OrgPath),
    request_body = UpdateOrg,
    responses(
        (status = 200, description = "The organization after the change", body = Organization),
        NotSignedIn, Forbidden, NotFound, InvalidInput,
    )
)]
pub(super) async fn update_org(
    caller: InOrg,
    body: Result<ApiJson<UpdateOrg>, ApiError>,
) -> Result<Json<Organization>, ApiError> {
    let request = caller.body(OrgRole::Owner, body)?;
    request.validate()?;
    let org_id = caller.access.org_id;
    let Some(name) = request.name.as_deref().map(str::trim) else {
        return Ok(Json(fetch(&caller.user, &caller.state.db, org_id).await?));
    };
    let mut write = caller.write(Lock::Caller, OrgRole::Owner).await?;
    store::rename(write.tx(), org_id, name, crate::db::now()).await?;
    write
        .commit(
            Entry::new("org.update", format!("org:{}", caller.access.slug))
                .details(json!({"name": name}).to_string()),
        )
        .await?;
    Ok(Json(fetch(&caller.user, &caller.state.db, org_id).await?))
}

/// Delete the organization: owners only, and only once it has no projects.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
/// - 409: The organization still has projects.
#[utoipa::path(
    delete, path = "/api/orgs/{org}", tag = "organizations",
    params(OrgPath),
    responses(
        (status = 204, description = "The organization, its members, invitations and key are gone"),
        NotSignedIn, Forbidden, NotFound, Conflict,
    )
)]
pub(super) async fn delete_org(caller: InOrg) -> Result<StatusCode, ApiError> {
    caller.access.require(OrgRole::Owner)?;
    let org_id = caller.access.org_id;
    let mut write = caller.write(Lock::Members, OrgRole::Owner).await?;
    let projects = store::count_projects(write.tx(), org_id).await?;
    if projects > 0 {
        return Err(ApiError::conflict(format!(
            "Organization {} still has {projects} project(s); delete or move them first.",
            caller.access.slug
        )));
    }
    store::delete_org(write.tx(), org_id).await?;
    write
        .commit(Entry::new(
            "org.delete",
            format!("org:{}", caller.access.slug),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's audit log (members, invitations, credentials), newest first. Admins
/// and owners.
///
/// Problems, beyond what their status says:
/// - 403: A member.
/// - 503: DynamoDB is unavailable; retry shortly.
#[utoipa::path(
    get, path = "/api/orgs/{org}/audit", tag = "organizations",
    params(OrgPath, PageQuery),
    responses(
        (status = 200, description = "A page of audit entries, newest first", body = Page<AuditEntry>),
        NotSignedIn, Forbidden, NotFound, InvalidInput, Unavailable,
    )
)]
pub(super) async fn list_audit(
    InOrg { caller, access }: InOrg,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    access.require(OrgRole::Admin)?;
    let ApiQuery(query) = query?;
    let limit = query.limit()?;
    audit::list(
        &caller.state,
        Scope::Org(access.org_id),
        query.cursor(),
        limit,
    )
    .await
    .map(Json)
}
