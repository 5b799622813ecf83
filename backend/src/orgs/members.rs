//! `/api/orgs/{org}/members` and `/api/orgs/{org}/members/{user_id}`. Nobody is added here:
//! people join by accepting an invitation.

use super::{InOrg, store, write::Lock};
use crate::orgs::{OrgMemberPath, OrgPath};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn};
use crate::{audit::Entry, error::ApiError, http::ApiJson};
use axum::{
    Json,
    extract::Path,
    http::StatusCode,
};
use faro_types::{OrgMember, OrgRole, UpdateOrgMember};
use serde_json::json;

/// Refuses a change that leaves the organization without an owner.
fn keep_an_owner(members: &[(u64, OrgRole)], target: u64) -> Result<(), ApiError> {
    let owners = members.iter().filter(|(_, r)| *r == OrgRole::Owner).count();
    let target_is_owner = members
        .iter()
        .any(|(id, r)| *id == target && *r == OrgRole::Owner);
    if target_is_owner && owners <= 1 {
        return Err(ApiError::conflict(
            "This is the organization's last owner; make another member an owner first.",
        ));
    }
    Ok(())
}

/// Who may change a member from `from` to `to`: owners decide who is an owner; admins
/// manage everyone else.
fn needs_for(from: OrgRole, to: Option<OrgRole>) -> OrgRole {
    if from == OrgRole::Owner || to == Some(OrgRole::Owner) {
        OrgRole::Owner
    } else {
        OrgRole::Admin
    }
}

fn role_of(members: &[(u64, OrgRole)], target: u64) -> Result<OrgRole, ApiError> {
    members
        .iter()
        .find(|(id, _)| *id == target)
        .map(|(_, role)| *role)
        .ok_or(ApiError::NotFound)
}

/// The organization's members, in the order they joined.
#[utoipa::path(
    get, path = "/api/orgs/{org}/members", tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The organization's members", body = Vec<OrgMember>),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn list_members(
    InOrg { caller, access }: InOrg,
) -> Result<Json<Vec<OrgMember>>, ApiError> {
    Ok(Json(store::members(&caller.state.db, access.org_id).await?))
}

/// Change a member's role. Admins and owners; only owners make or unmake owners, and the
/// last owner stays one.
///
/// Problems, beyond what their status says:
/// - 403: A member, or an admin making or unmaking an owner.
/// - 404: No such organization or member.
/// - 409: This would leave the organization without an owner.
#[utoipa::path(
    patch, path = "/api/orgs/{org}/members/{user_id}", tag = "organizations",
    params(OrgMemberPath),
    request_body = UpdateOrgMember,
    responses(
        (status = 200, description = "The member after the change", body = OrgMember),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput,
    )
)]
pub(super) async fn update_member(
    caller: InOrg,
    Path(OrgMemberPath { user_id, .. }): Path<OrgMemberPath>,
    body: Result<ApiJson<UpdateOrgMember>, ApiError>,
) -> Result<Json<OrgMember>, ApiError> {
    let request = caller.body(OrgRole::Admin, body)?;
    let target: u64 = user_id.parse().map_err(|_| ApiError::NotFound)?;
    let org_id = caller.access.org_id;
    let mut write = caller.write(Lock::Members, OrgRole::Admin).await?;
    let current = role_of(write.members(), target)?;
    write
        .access()
        .require(needs_for(current, Some(request.role)))?;
    if current != request.role {
        if request.role != OrgRole::Owner {
            keep_an_owner(write.members(), target)?;
        }
        store::set_role(write.tx(), org_id, target, request.role).await?;
        let member = store::member(write.tx(), org_id, target)
            .await?
            .ok_or(ApiError::NotFound)?;
        write
            .commit(
                Entry::new("org.member.update", format!("user:{target}"))
                    .details(json!({"role": request.role, "was": current}).to_string()),
            )
            .await?;
        return Ok(Json(member));
    }
    let member = store::member(write.tx(), org_id, target).await?;
    member.map(Json).ok_or(ApiError::NotFound)
}

/// Remove a member from the organization and all of its projects. Admins remove members
/// and admins, owners anyone; everyone may leave; the last owner cannot.
///
/// Problems, beyond what their status says:
/// - 403: A member removing someone else, or an admin removing an owner.
/// - 404: No such organization or member.
/// - 409: This would leave the organization without an owner.
#[utoipa::path(
    delete, path = "/api/orgs/{org}/members/{user_id}", tag = "organizations",
    params(OrgMemberPath),
    responses(
        (status = 204, description = "The member is gone from the organization and its projects"),
        NotSignedIn, Forbidden, NotFound, Conflict,
    )
)]
pub(super) async fn remove_member(
    caller: InOrg,
    Path(OrgMemberPath { user_id, .. }): Path<OrgMemberPath>,
) -> Result<StatusCode, ApiError> {
    let target: u64 = user_id.parse().map_err(|_| ApiError::NotFound)?;
    let leaving = target == caller.user.id;
    if !leaving {
        caller.access.require(OrgRole::Admin)?;
    }
    let needs = if leaving { OrgRole::Member } else { OrgRole::Admin };
    let mut write = caller.write(Lock::Members, needs).await?;
    let current = role_of(write.members(), target)?;
    if !leaving {
        write.access().require(needs_for(current, None))?;
    }
    keep_an_owner(write.members(), target)?;
    store::delete_member(write.tx(), caller.access.org_id, target).await?;
    let action = if leaving {
        "org.member.leave"
    } else {
        "org.member.remove"
    };
    write
        .commit(Entry::new(action, format!("user:{target}")))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
