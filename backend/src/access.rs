//! Object-level authorization: every project URL is resolved through the caller's
//! membership, so a project the caller is not a member of does not exist for them (404),
//! and a role too low for a write is refused (403).

use crate::{AppState, auth::CurrentUser, error::ApiError};
use faro_types::Role;

/// The caller's standing in one project.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project_id: u64,
    pub slug: String,
    pub role: Role,
}

impl ProjectAccess {
    /// Resolves `slug` for `user`; not found and not a member are the same 404.
    pub async fn load(state: &AppState, user: &CurrentUser, slug: &str) -> Result<Self, ApiError> {
        let row: Option<(u64, String)> = sqlx::query_as(
            "SELECT p.id, m.role FROM projects p \
             JOIN memberships m ON m.project_id = p.id AND m.user_id = ? \
             WHERE p.slug = ?",
        )
        .bind(user.id)
        .bind(slug)
        .fetch_optional(&state.db)
        .await?;
        let (project_id, role) = row.ok_or(ApiError::NotFound)?;
        Self::from_row(project_id, slug.to_owned(), &role)
    }

    /// Resolves the project of `project_id` for `user` (for URLs that name a child object,
    /// such as a release, instead of the project).
    pub async fn load_by_id(
        state: &AppState,
        user: &CurrentUser,
        project_id: u64,
    ) -> Result<Self, ApiError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT p.slug, m.role FROM projects p \
             JOIN memberships m ON m.project_id = p.id AND m.user_id = ? \
             WHERE p.id = ?",
        )
        .bind(user.id)
        .bind(project_id)
        .fetch_optional(&state.db)
        .await?;
        let (slug, role) = row.ok_or(ApiError::NotFound)?;
        Self::from_row(project_id, slug, &role)
    }

    fn from_row(project_id: u64, slug: String, role: &str) -> Result<Self, ApiError> {
        let role = Role::parse(role)
            .ok_or_else(|| ApiError::Internal(format!("unknown role {role:?} in memberships")))?;
        Ok(Self {
            project_id,
            slug,
            role,
        })
    }

    /// Refuses callers below `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "This needs the {} role in project {}; you are a {}.",
                needed.as_str(),
                self.slug,
                self.role.as_str()
            )))
        }
    }

    /// Refuses setting `field` to callers below `needed` (no mass assignment).
    pub fn require_for_field(&self, needed: Role, field: &str) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                detail: format!("Only a project {} may set {field}.", needed.as_str()),
                field: Some(field.to_owned()),
            })
        }
    }
}
