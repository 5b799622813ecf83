//! `/api/projects/{slug}/members` and `/api/projects/{slug}/members/{user_id}`.

use super::store;
use crate::accounts::{self, normalize_email};
use crate::openapi::{Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn};
use crate::projects::{MemberPath, ProjectPath};
use crate::{
    access::InProject,
    audit::Entry,
    error::ApiError,
    http::ApiJson,
    write::{Lock, ProjectWrite},
};
use axum::{Json, extract::Path, http::StatusCode};
use faro_types::{AddMember, Member, Role, UpdateMember};
use serde_json::json;

async fn fetch(
    write: &mut ProjectWrite<'_>,
    project_id: u64,
    user_id: u64,
) -> Result<Member, ApiError> {
    store::member(write.tx(), project_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A user id from the URL; anything that is not one names no member.
fn parse_user_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// Refuses a change that would leave the project without an owner.
fn keep_an_owner(
    members: &[(u64, Role)],
    target: u64,
    field: Option<&str>,
) -> Result<(), ApiError> {
    let owners = members.iter().filter(|(_, r)| *r == Role::Owner).count();
    let target_is_owner = members
        .iter()
        .any(|(id, r)| *id == target && *r == Role::Owner);
    if target_is_owner && owners <= 1 {
        return Err(ApiError::Conflict {
            detail: "This is the project's last owner; make another member an owner first.".into(),
            field: field.map(str::to_owned),
        });
    }
    Ok(())
}

/// The project's members, in the order they were added.
#[utoipa::path(
    get, path = "/api/projects/{slug}/members", tag = "projects",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project's members", body = Vec<Member>),
        NotSignedIn, NotFound,
    )
)]
pub(super) async fn list_members(
    InProject { caller, access }: InProject,
) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(
        store::members(&caller.state.db, access.project_id).await?,
    ))
}

/// Add a member of the project's organization to the project by email. Owners only; people
/// join the organization only by accepting an invitation.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
/// - 409: Already a member (field `email`).
/// - 422: Invalid or unknown fields, or no member of the organization has this email
///   (field `email`).
#[utoipa::path(
    post, path = "/api/projects/{slug}/members", tag = "projects",
    params(ProjectPath),
    request_body = AddMember,
    responses(
        (status = 201, description = "Member added", body = Member),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput,
    )
)]
pub(super) async fn add_member(
    caller: InProject,
    body: Result<ApiJson<AddMember>, ApiError>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let access = &caller.access;
    let request = caller.body(Role::Owner, body)?;
    request.validate()?;
    let email = normalize_email(&request.email);
    let not_in_org = || {
        ApiError::conflict_on(
            "email",
            "no member of the project's organization has this email: invite them to the \
             organization first",
        )
    };
    let new_id = accounts::store::id_by_email(&caller.state.db, &email)
        .await?
        .ok_or_else(not_in_org)?;

    let mut write = caller.write(Lock::Members, Role::Owner).await?;
    // Only people who accepted the organization's invitation can be added (under a lock:
    // leaving the organization meanwhile waits, or is seen).
    crate::orgs::store::caller_role(write.tx(), access.org_id, new_id)
        .await?
        .ok_or_else(not_in_org)?;
    if write.members().iter().any(|(id, _)| *id == new_id) {
        return Err(ApiError::Conflict {
            detail: format!("{email} is already a member of project {}.", access.slug),
            field: Some("email".into()),
        });
    }
    store::insert_member(
        write.tx(),
        access.project_id,
        new_id,
        request.role,
        crate::db::now(),
    )
    .await?;
    let member = fetch(&mut write, access.project_id, new_id).await?;
    write
        .commit(
            Entry::new("member.add", format!("user:{new_id}"))
                .details(json!({"email": member.email, "role": member.role}).to_string()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Change a member's role. Owners only; the last owner cannot be demoted.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner.
/// - 404: No such project or member, or the caller is not a member.
/// - 409: This would leave the project without an owner.
#[utoipa::path(
    patch, path = "/api/projects/{slug}/members/{user_id}", tag = "projects",
    params(MemberPath),
    request_body = UpdateMember,
    responses(
        (status = 200, description = "The member after the change", body = Member),
        NotSignedIn, Forbidden, NotFound, Conflict, InvalidInput,
    )
)]
pub(super) async fn update_member(
    caller: InProject,
    Path(MemberPath { user_id, .. }): Path<MemberPath>,
    body: Result<ApiJson<UpdateMember>, ApiError>,
) -> Result<Json<Member>, ApiError> {
    let access = &caller.access;
    let request = caller.body(Role::Owner, body)?;
    let target = parse_user_id(&user_id)?;

    let mut write = caller.write(Lock::Members, Role::Owner).await?;
    let current = write
        .members()
        .iter()
        .find(|(id, _)| *id == target)
        .map(|(_, role)| *role)
        .ok_or(ApiError::NotFound)?;
    if current == request.role {
        return fetch(&mut write, access.project_id, target).await.map(Json);
    }
    if request.role != Role::Owner {
        keep_an_owner(write.members(), target, Some("role"))?;
    }
    store::set_role(write.tx(), access.project_id, target, request.role).await?;
    let member = fetch(&mut write, access.project_id, target).await?;
    write
        .commit(
            Entry::new("member.update", format!("user:{target}"))
                .details(json!({"role": request.role}).to_string()),
        )
        .await?;
    Ok(Json(member))
}

/// Remove a member. Owners may remove anyone, any member may leave; the last owner cannot.
///
/// Problems, beyond what their status says:
/// - 403: Not an owner, and not removing oneself.
/// - 404: No such project or member, or the caller is not a member.
/// - 409: This would leave the project without an owner.
#[utoipa::path(
    delete, path = "/api/projects/{slug}/members/{user_id}", tag = "projects",
    params(MemberPath),
    responses(
        (status = 204, description = "The member is removed"),
        NotSignedIn, Forbidden, NotFound, Conflict,
    )
)]
pub(super) async fn remove_member(
    caller: InProject,
    Path(MemberPath { user_id, .. }): Path<MemberPath>,
) -> Result<StatusCode, ApiError> {
    let access = &caller.access;
    let target = parse_user_id(&user_id)?;
    let leaving = target == caller.user.id;
    if !leaving {
        access.require(Role::Owner)?;
    }

    // Any member may leave; removing someone else needs an owner.
    let needs = if leaving { Role::Viewer } else { Role::Owner };
    let mut write = caller.write(Lock::Members, needs).await?;
    if !write.members().iter().any(|(id, _)| *id == target) {
        return Err(ApiError::NotFound);
    }
    keep_an_owner(write.members(), target, None)?;
    store::delete_member(write.tx(), access.project_id, target).await?;
    let action = if leaving {
        "member.leave"
    } else {
        "member.remove"
    };
    write
        .commit(Entry::new(action, format!("user:{target}")))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
