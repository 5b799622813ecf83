//! `/api/projects/{slug}/members` and `/api/projects/{slug}/members/{user_id}`.

use super::{access_among, lock_members};
use crate::accounts::normalize_email;
use crate::{
    AppState,
    access::ProjectAccess,
    audit::{self, Scope},
    auth::CurrentUser,
    error::ApiError,
    http::{ApiJson, ClientInfo},
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use faro_types::{AddMember, Member, Problem, Role, UpdateMember};
use serde_json::json;

const SELECT: &str = "SELECT m.user_id, u.email, u.display_name, m.role, m.created_at \
                      FROM memberships m JOIN users u ON u.id = m.user_id";

#[derive(Debug, sqlx::FromRow)]
struct MemberRow {
    user_id: u64,
    email: String,
    display_name: String,
    role: String,
    created_at: DateTime<Utc>,
}

impl MemberRow {
    fn into_member(self) -> Result<Member, ApiError> {
        Ok(Member {
            role: super::parse_role(&self.role)?,
            user_id: self.user_id,
            email: self.email,
            name: self.display_name,
            added_at: self.created_at,
        })
    }
}

async fn fetch(
    conn: &mut sqlx::MySqlConnection,
    project_id: u64,
    user_id: u64,
) -> Result<Member, ApiError> {
    let row: Option<MemberRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.project_id = ? AND m.user_id = ?"
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.ok_or(ApiError::NotFound)?.into_member()
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
    params(("slug" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The project's members", body = Vec<Member>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.project_id = ? ORDER BY m.created_at, m.user_id"
    ))
    .bind(access.project_id)
    .fetch_all(&state.db)
    .await?;
    rows.into_iter()
        .map(MemberRow::into_member)
        .collect::<Result<_, _>>()
        .map(Json)
}

/// Add an existing account to the project by email. Owners only.
#[utoipa::path(
    post, path = "/api/projects/{slug}/members", tag = "projects",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body = AddMember,
    responses(
        (status = 201, description = "Member added", body = Member),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member (field `email`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields, or no account with this email (field `email`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn add_member(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path(slug): Path<String>,
    body: Result<ApiJson<AddMember>, ApiError>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Owner)?;
    let ApiJson(request) = body?;
    request.validate()?;
    let email = normalize_email(&request.email);
    let account: Option<(u64,)> = sqlx::query_as("SELECT id FROM users WHERE email = ?")
        .bind(&email)
        .fetch_optional(&state.db)
        .await?;
    let (new_id,) =
        account.ok_or_else(|| ApiError::field("email", "no account with this email"))?;

    let mut tx = state.db.begin().await?;
    let members = lock_members(&mut tx, access.project_id).await?;
    access_among(&members, &access, &user)?.require(Role::Owner)?;
    if members.iter().any(|(id, _)| *id == new_id) {
        return Err(ApiError::Conflict {
            detail: format!("{email} is already a member of project {slug}."),
            field: Some("email".into()),
        });
    }
    sqlx::query(
        "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(access.project_id)
    .bind(new_id)
    .bind(request.role.as_str())
    .bind(crate::db::now())
    .execute(&mut *tx)
    .await?;
    let member = fetch(&mut tx, access.project_id, new_id).await?;
    tx.commit().await?;

    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(access.project_id),
            &user,
            &client,
            "member.add",
            format!("user:{new_id}"),
        )
        .details(json!({"email": member.email, "role": member.role}).to_string()),
    )
    .await;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Change a member's role. Owners only; the last owner cannot be demoted.
#[utoipa::path(
    patch, path = "/api/projects/{slug}/members/{user_id}", tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("user_id" = u64, Path, description = "The member's user id"),
    ),
    request_body = UpdateMember,
    responses(
        (status = 200, description = "The member after the change", body = Member),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or member, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This would leave the project without an owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_member(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path((slug, user_id)): Path<(String, String)>,
    body: Result<ApiJson<UpdateMember>, ApiError>,
) -> Result<Json<Member>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    access.require(Role::Owner)?;
    let ApiJson(request) = body?;
    let target = parse_user_id(&user_id)?;

    let mut tx = state.db.begin().await?;
    let members = lock_members(&mut tx, access.project_id).await?;
    access_among(&members, &access, &user)?.require(Role::Owner)?;
    let current = members
        .iter()
        .find(|(id, _)| *id == target)
        .map(|(_, role)| *role)
        .ok_or(ApiError::NotFound)?;
    if current == request.role {
        return fetch(&mut tx, access.project_id, target).await.map(Json);
    }
    if request.role != Role::Owner {
        keep_an_owner(&members, target, Some("role"))?;
    }
    sqlx::query("UPDATE memberships SET role = ? WHERE project_id = ? AND user_id = ?")
        .bind(request.role.as_str())
        .bind(access.project_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    let member = fetch(&mut tx, access.project_id, target).await?;
    tx.commit().await?;

    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(access.project_id),
            &user,
            &client,
            "member.update",
            format!("user:{target}"),
        )
        .details(json!({"role": request.role}).to_string()),
    )
    .await;
    Ok(Json(member))
}

/// Remove a member. Owners may remove anyone, any member may leave; the last owner cannot.
#[utoipa::path(
    delete, path = "/api/projects/{slug}/members/{user_id}", tag = "projects",
    params(
        ("slug" = String, Path, description = "The project's slug"),
        ("user_id" = u64, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "The member is removed"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner, and not removing oneself", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or member, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This would leave the project without an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let target = parse_user_id(&user_id)?;
    let leaving = target == user.id;
    if !leaving {
        access.require(Role::Owner)?;
    }

    let mut tx = state.db.begin().await?;
    let members = lock_members(&mut tx, access.project_id).await?;
    let access = access_among(&members, &access, &user)?;
    if !leaving {
        access.require(Role::Owner)?;
    }
    if !members.iter().any(|(id, _)| *id == target) {
        return Err(ApiError::NotFound);
    }
    keep_an_owner(&members, target, None)?;
    sqlx::query("DELETE FROM memberships WHERE project_id = ? AND user_id = ?")
        .bind(access.project_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let action = if leaving {
        "member.leave"
    } else {
        "member.remove"
    };
    audit::record(
        &state,
        audit::Event::new(
            Scope::Project(access.project_id),
            &user,
            &client,
            action,
            format!("user:{target}"),
        ),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
