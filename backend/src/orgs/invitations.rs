//! Invitations: the only way into an organization one did not create. An invitation names
//! an e-mail and a role; its token is shown once, to the inviter, who passes the link on.
//! Only the token's SHA-256 is stored; it works once, for 7 days, for that e-mail only.

use super::{InOrg, org::room_for_one_more, store, write::Lock};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn};
use crate::orgs::{InvitationPath, OrgPath, TokenPath};
use crate::{
    AppState,
    accounts::normalize_email,
    audit::{self, Entry, Scope},
    auth::{Caller, CurrentUser},
    error::ApiError,
    http::{ApiJson, ClientInfo},
};
use axum::{Json, extract::Path, http::StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use faro_types::{
    CreateInvitation, CreatedInvitation, Invitation, InvitationPreview, InvitationStatus, OrgRole,
    Organization, invitation_token,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::MySqlConnection;

/// How long a link works.
const VALID_FOR: TimeDelta = TimeDelta::days(7);
/// Unanswered invitations an organization may have at once, and how many the list shows.
const MAX_PENDING: i64 = 100;
const LIST_LIMIT: u32 = 200;

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The stored hash of a link's token, if the token is well formed (else no invitation has
/// it: 404).
fn hash_of(token: &str) -> Result<String, ApiError> {
    if invitation_token(token) {
        Ok(token_hash(token))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Refuses an invitation that can no longer be accepted, saying why.
fn still_open(row: &store::InvitationRow, now: DateTime<Utc>) -> Result<(), ApiError> {
    let why = match row.status(now) {
        InvitationStatus::Pending => return Ok(()),
        InvitationStatus::Accepted => "was already accepted",
        InvitationStatus::Revoked => "was revoked",
        InvitationStatus::Expired => "has expired",
    };
    Err(ApiError::conflict(format!(
        "This invitation to {} {why}; ask an admin of the organization for a new one.",
        row.org_name
    )))
}

/// Accepts the invitation `token` for the account `user` (its e-mail must be the invited
/// one) inside `tx`: the account joins the organization with the invited role. Sign-up with
/// an invitation and `POST /api/invitations/{token}/accept` both come here; the caller
/// commits, then records the returned entry in the organization's log.
pub async fn accept_in(
    tx: &mut MySqlConnection,
    token: &str,
    user_id: u64,
    email: &str,
    field: Option<&str>,
) -> Result<(u64, Entry), ApiError> {
    let now = crate::db::now();
    let locked = match hash_of(token) {
        Ok(hash) => store::lock_invitation_by_token(tx, &hash).await?,
        Err(_) => None,
    };
    let row = match (locked, field) {
        (Some(row), _) => row,
        (None, Some(field)) => {
            return Err(ApiError::conflict_on(field, "no invitation has this token"));
        }
        (None, None) => return Err(ApiError::NotFound),
    };
    still_open(&row, now)?;
    if row.email != email {
        return Err(ApiError::Forbidden {
            detail: format!(
                "This invitation is for {}; sign in with that account to accept it.",
                row.email
            ),
            field: field.map(str::to_owned),
        });
    }
    room_for_one_more(tx, user_id).await?;
    if !store::insert_member(tx, row.org_id, user_id, row.role, now).await? {
        return Err(ApiError::conflict(format!(
            "You already belong to {}.",
            row.org_name
        )));
    }
    store::mark_accepted(tx, row.id, user_id, now).await?;
    let entry = Entry::new("org.invitation.accept", format!("invitation:{}", row.id))
        .details(json!({"email": row.email, "role": row.role}).to_string());
    Ok((row.org_id, entry))
}

/// Invite someone by e-mail. Admins and owners; only owners invite owners. The answer holds
/// the link's token: it is shown this once.
///
/// Problems, beyond what their status says:
/// - 403: A member, or an admin inviting an owner (field `role`).
/// - 409: The person already belongs to the organization (field `email`), or 100
///   invitations already wait for an answer.
#[utoipa::path(
    post, path = "/api/orgs/{org}/invitations", tag = "organizations",
    params(OrgPath),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "Invitation created; pass the link on", body = CreatedInvitation),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput,
    )
)]
pub(super) async fn create_invitation(
    caller: InOrg,
    body: Result<ApiJson<CreateInvitation>, ApiError>,
) -> Result<(StatusCode, Json<CreatedInvitation>), ApiError> {
    let request = caller.body(OrgRole::Admin, body)?;
    request.validate()?;
    let owner_only = |role: OrgRole| {
        if request.role == OrgRole::Owner && role < OrgRole::Owner {
            return Err(ApiError::Forbidden {
                detail: "Only an owner may invite an owner.".into(),
                field: Some("role".into()),
            });
        }
        Ok(())
    };
    owner_only(caller.access.role)?;
    let email = normalize_email(&request.email);
    let org_id = caller.access.org_id;
    let now = crate::db::now();

    let mut write = caller.write(Lock::Members, OrgRole::Admin).await?;
    owner_only(write.access().role)?;
    let member_id = crate::accounts::store::id_by_email(write.tx(), &email).await?;
    if member_id.is_some_and(|id| write.members().iter().any(|(m, _)| *m == id)) {
        return Err(ApiError::Conflict {
            detail: format!("{email} already belongs to this organization."),
            field: Some("email".into()),
        });
    }
    if store::count_pending(write.tx(), org_id, now).await? >= MAX_PENDING {
        return Err(ApiError::conflict(format!(
            "{MAX_PENDING} invitations already wait for an answer; revoke some first."
        )));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    let new = store::NewInvitation {
        org_id,
        email: email.as_str(),
        role: request.role,
        token_hash: &hash,
        invited_by: caller.user.id,
        now,
        expires_at: now + VALID_FOR,
    };
    let id = store::insert_invitation(write.tx(), &new).await?;
    write
        .commit(
            Entry::new("org.invitation.create", format!("invitation:{id}"))
                .details(json!({"email": email, "role": request.role}).to_string()),
        )
        .await?;
    let invitation = Invitation {
        id,
        email: email.clone(),
        role: request.role,
        status: InvitationStatus::Pending,
        invited_by: Some(caller.user.email.clone()),
        created_at: now,
        expires_at: new.expires_at,
    };
    let accept_path = format!("/invitations/{token}");
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation,
            token,
            accept_path,
        }),
    ))
}

/// The organization's invitations, newest first (at most 200), with their status. Admins
/// and owners.
///
/// Problems, beyond what their status says:
/// - 403: A member.
#[utoipa::path(
    get, path = "/api/orgs/{org}/invitations", tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The organization's invitations, newest first", body = Vec<Invitation>),
        NotSignedIn, Forbidden, NotFound,
    )
)]
pub(super) async fn list_invitations(
    InOrg { caller, access }: InOrg,
) -> Result<Json<Vec<Invitation>>, ApiError> {
    access.require(OrgRole::Admin)?;
    let now = crate::db::now();
    let rows = store::invitations(&caller.state.db, access.org_id, LIST_LIMIT).await?;
    Ok(Json(
        rows.iter().map(|row| row.to_invitation(now)).collect(),
    ))
}

/// Revoke an invitation that was not accepted yet. Admins and owners.
///
/// Problems, beyond what their status says:
/// - 403: A member.
/// - 409: It was already accepted.
#[utoipa::path(
    delete, path = "/api/orgs/{org}/invitations/{id}", tag = "organizations",
    params(InvitationPath),
    responses(
        (status = 204, description = "The link no longer works"),
        NotSignedIn, Forbidden, NotFound, Conflict,
    )
)]
pub(super) async fn revoke_invitation(
    caller: InOrg,
    Path(InvitationPath { id, .. }): Path<InvitationPath>,
) -> Result<StatusCode, ApiError> {
    caller.access.require(OrgRole::Admin)?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let now = crate::db::now();
    let mut write = caller.write(Lock::Caller, OrgRole::Admin).await?;
    let row = store::lock_invitation(write.tx(), caller.access.org_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match row.status(now) {
        InvitationStatus::Accepted => {
            return Err(ApiError::conflict(
                "This invitation was accepted; remove the member instead.",
            ));
        }
        InvitationStatus::Revoked => return Ok(StatusCode::NO_CONTENT),
        InvitationStatus::Pending | InvitationStatus::Expired => {}
    }
    store::mark_revoked(write.tx(), id, now).await?;
    write
        .commit(
            Entry::new("org.invitation.revoke", format!("invitation:{id}"))
                .details(json!({"email": row.email}).to_string()),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an invitation link invites to: for its holder, signed in or not.
///
/// Problems, beyond what their status says:
/// - 404: No invitation has this token.
/// - 409: It was accepted or revoked, or it expired.
#[utoipa::path(
    get, path = "/api/invitations/{token}", tag = "organizations",
    params(TokenPath),
    responses(
        (status = 200, description = "The organization, e-mail and role the link is for", body = InvitationPreview),
        NotFound, Conflict,
    )
)]
pub(super) async fn preview_invitation(
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(TokenPath { token }): Path<TokenPath>,
) -> Result<Json<InvitationPreview>, ApiError> {
    let row = store::invitation_by_token(&state.db, &hash_of(&token)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    still_open(&row, crate::db::now())?;
    Ok(Json(InvitationPreview {
        organization: row.org_slug,
        organization_name: row.org_name,
        email: row.email,
        role: row.role,
        invited_by: row.invited_by,
        expires_at: row.expires_at,
    }))
}

/// Accept an invitation: the signed-in account (whose e-mail must be the invited one) joins
/// the organization with the invited role.
///
/// Problems, beyond what their status says:
/// - 403: The invitation is for another e-mail.
/// - 404: No invitation has this token.
/// - 409: It was accepted or revoked, it expired, the caller already belongs to the
///   organization, or to 50 organizations.
#[utoipa::path(
    post, path = "/api/invitations/{token}/accept", tag = "organizations",
    params(TokenPath),
    responses(
        (status = 200, description = "The organization the caller joined", body = Organization),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput,
    )
)]
pub(super) async fn accept_invitation(
    caller: Caller,
    Path(TokenPath { token }): Path<TokenPath>,
) -> Result<Json<Organization>, ApiError> {
    let Caller {
        state,
        user,
        client,
    } = &caller;
    let mut tx = state.db.begin().await?;
    let (org_id, entry) = accept_in(&mut tx, &token, user.id, &user.email, None).await?;
    tx.commit().await?;
    record_joined(state, user, client, org_id, entry).await;
    store::org(&state.db, org_id, user.id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Records an accepted invitation in the organization's log.
pub async fn record_joined(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
    org_id: u64,
    entry: Entry,
) {
    audit::record(
        state,
        audit::Event::new(Scope::Org(org_id), user, client, entry),
    )
    .await;
}
