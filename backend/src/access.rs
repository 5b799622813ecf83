//! Object-level authorization: every project URL is resolved through the caller's
//! membership, so a project the caller is not a member of does not exist for them (404),
//! and a role too low for a write is refused (403).

use crate::{
    AppState,
    auth::{Caller, CurrentUser},
    error::ApiError,
    http::ApiJson,
    projects::store::{self, ProjectKey},
    write::{Lock, ProjectWrite},
};
use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use faro_types::Role;
use std::collections::HashMap;

/// The caller's standing in one project.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project_id: u64,
    pub org_id: u64,
    pub slug: String,
    /// The effective role: an organization owner or admin is the project's owner.
    pub role: Role,
}

impl ProjectAccess {
    /// Resolves the project `key` names for `user`; not found and not visible to them are
    /// the same 404.
    pub async fn load(
        state: &AppState,
        user: &CurrentUser,
        key: ProjectKey<'_>,
    ) -> Result<Self, ApiError> {
        let standing = store::membership(&state.db, user.id, key)
            .await?
            .ok_or(ApiError::NotFound)?;
        // A slug matches case-insensitively; answers and fingerprints keep the URL's spelling.
        let slug = match key {
            ProjectKey::Slug(slug) => slug.to_owned(),
            ProjectKey::Id(_) => standing.slug,
        };
        Ok(Self {
            project_id: standing.project_id,
            org_id: standing.org_id,
            slug,
            role: standing.role,
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

    /// Refuses what only owners may do to a production environment (`what`, such as "release
    /// to"), to anyone else.
    pub fn require_for_production(&self, production: bool, what: &str) -> Result<(), ApiError> {
        if !production || self.role >= Role::Owner {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "Only a project owner or an organization owner or admin may {what} a \
                 production environment; you are a {}.",
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

/// A signed-in member of the project the URL's `{slug}` names: what a handler under
/// `/api/projects/{slug}` starts from. Resolving it answers 401 to anonymous callers and 404
/// to strangers, before anything else of the request is looked at.
#[derive(Debug)]
pub struct InProject {
    pub caller: Caller,
    pub access: ProjectAccess,
}

/// The caller behind the project: `state`, `user` and `client` read through.
impl std::ops::Deref for InProject {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl InProject {
    /// The request's body, looked at only once the caller is at least `needs`: a caller
    /// who may not write here learns nothing from how it is refused.
    pub fn body<T>(&self, needs: Role, body: Result<ApiJson<T>, ApiError>) -> Result<T, ApiError> {
        self.access.require(needs)?;
        let ApiJson(body) = body?;
        Ok(body)
    }

    /// Begins a write that needs the caller to be at least `needs` (see [`ProjectWrite`]).
    pub async fn write(&self, lock: Lock, needs: Role) -> Result<ProjectWrite<'_>, ApiError> {
        ProjectWrite::begin(&self.caller, &self.access, lock, needs).await
    }
}

impl FromRequestParts<AppState> for InProject {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let slug = params.get("slug").ok_or(ApiError::NotFound)?;
        let access = ProjectAccess::load(state, &caller.user, ProjectKey::Slug(slug)).await?;
        Ok(Self { caller, access })
    }
}
