//! Projects, their environments and members, and each project's audit log.
//!
//! Every URL under `/api/projects/{slug}` is resolved through the caller's membership
//! ([`ProjectAccess::load`]): a project the caller is not a member of answers 404, a role too
//! low for a write 403. Writes re-read the caller's role inside their transaction under a lock
//! ([`relock`]), so a role taken away concurrently cannot authorize a write, and fields only
//! owners may set are checked one by one (no mass assignment).

mod audit_log;
mod environments;
mod members;
mod project;

use crate::{AppState, access::ProjectAccess, auth::CurrentUser, error::ApiError};
use faro_types::{Role, validate};
use serde::Deserialize;
use sqlx::MySqlConnection;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project::create_project, project::list_projects))
        .routes(routes!(
            project::get_project,
            project::update_project,
            project::delete_project
        ))
        .routes(routes!(
            environments::list_environments,
            environments::create_environment
        ))
        .routes(routes!(
            environments::get_environment,
            environments::update_environment,
            environments::delete_environment
        ))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(members::update_member, members::remove_member))
        .routes(routes!(audit_log::list_audit))
}

/// Page size when `limit` is absent, and the most a caller may ask for.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// `?cursor=&limit=` of keyset-paginated lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page; absent (or empty) for the first page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The cursor, with an empty `?cursor=` meaning none.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|c| !c.is_empty())
    }
}

/// Re-reads the caller's role inside a write transaction, under a shared lock on their
/// membership row held until commit: a concurrent demotion or removal waits for this write
/// (or this write sees it and is refused). The membership row is locked before any other row,
/// in every write of this module, so the lock order is the same everywhere.
async fn relock(
    conn: &mut MySqlConnection,
    access: &ProjectAccess,
    user: &CurrentUser,
) -> Result<ProjectAccess, ApiError> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM memberships WHERE project_id = ? AND user_id = ? LOCK IN SHARE MODE",
    )
    .bind(access.project_id)
    .bind(user.id)
    .fetch_optional(&mut *conn)
    .await?;
    let role = role.ok_or(ApiError::NotFound)?;
    Ok(ProjectAccess {
        role: parse_role(&role)?,
        ..access.clone()
    })
}

/// Every membership of a project, locked for update until commit: member changes and project
/// deletion serialize on these rows, so "the last owner" is decided on a consistent view.
async fn lock_members(
    conn: &mut MySqlConnection,
    project_id: u64,
) -> Result<Vec<(u64, Role)>, ApiError> {
    let rows: Vec<(u64, String)> = sqlx::query_as(
        "SELECT user_id, role FROM memberships WHERE project_id = ? ORDER BY user_id FOR UPDATE",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(id, role)| Ok((id, parse_role(&role)?)))
        .collect()
}

/// The caller's role among locked memberships, as a refreshed [`ProjectAccess`].
fn access_among(
    members: &[(u64, Role)],
    access: &ProjectAccess,
    user: &CurrentUser,
) -> Result<ProjectAccess, ApiError> {
    let role = members
        .iter()
        .find(|(id, _)| *id == user.id)
        .map(|(_, role)| *role)
        .ok_or(ApiError::NotFound)?;
    Ok(ProjectAccess {
        role,
        ..access.clone()
    })
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::parse(role)
        .ok_or_else(|| ApiError::Internal(format!("unknown role {role:?} in memberships")))
}

/// Whether `err` is a duplicate-key violation.
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Keyset cursors over slugs: the last slug of a page, hex-encoded so clients treat it as
/// opaque.
fn encode_cursor(slug: &str) -> String {
    hex::encode(slug.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|slug| validate::slug(slug, 64).is_none())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this API issued"))
}

/// The changed fields of a write, as the audit entry's short JSON `details`.
fn details(fields: serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(fields).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_values() {
        let cursor = encode_cursor("shop-api");
        assert_eq!(decode_cursor(&cursor).expect("valid"), "shop-api");
        for bad in ["zz", "41", &hex::encode("AT#2026"), ""] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_default_and_are_bounded() {
        let query = |limit| PageQuery {
            cursor: None,
            limit,
        };
        assert_eq!(query(None).limit().expect("default"), DEFAULT_LIMIT);
        assert_eq!(query(Some(100)).limit().expect("max"), 100);
        assert!(query(Some(0)).limit().is_err());
        assert!(query(Some(101)).limit().is_err());
    }
}
