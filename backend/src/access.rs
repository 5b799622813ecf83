//! Object-level authorization: every project URL is resolved through the caller's
//! membership, so a project the caller is not a member of does not exist for them (404),
//! and a role too low for a write is refused (403).

use crate::{
    AppState,
    auth::CurrentUser,
    error::ApiError,
    http::ClientInfo,
    projects::store,
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
    pub slug: String,
    pub role: Role,
}

impl ProjectAccess {
    /// Resolves `slug` for `user`; not found and not a member are the same 404.
    pub async fn load(state: &AppState, user: &CurrentUser, slug: &str) -> Result<Self, ApiError> {
        let (project_id, role) = store::membership(&state.db, user.id, slug)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Self {
            project_id,
            slug: slug.to_owned(),
            role,
        })
    }

    /// Resolves the project of `project_id` for `user` (for URLs that name a child object,
    /// such as a release, instead of the project).
    pub async fn load_by_id(
        state: &AppState,
        user: &CurrentUser,
        project_id: u64,
    ) -> Result<Self, ApiError> {
        let (slug, role) = store::membership_by_id(&state.db, user.id, project_id)
            .await?
            .ok_or(ApiError::NotFound)?;
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

/// A signed-in member of the project the URL's `{slug}` names: what a handler under
/// `/api/projects/{slug}` starts from. Resolving it answers 401 to anonymous callers and 404
/// to strangers, before anything else of the request is looked at.
#[derive(Debug)]
pub struct InProject {
    pub state: AppState,
    pub user: CurrentUser,
    pub client: ClientInfo,
    pub access: ProjectAccess,
}

impl InProject {
    /// Begins a write that needs the caller to be at least `needs` (see [`ProjectWrite`]).
    pub async fn write(&self, lock: Lock, needs: Role) -> Result<ProjectWrite<'_>, ApiError> {
        ProjectWrite::begin(
            &self.state,
            &self.user,
            &self.client,
            &self.access,
            lock,
            needs,
        )
        .await
    }
}

impl FromRequestParts<AppState> for InProject {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let slug = params.get("slug").ok_or(ApiError::NotFound)?;
        let access = ProjectAccess::load(state, &user, slug).await?;
        Ok(Self {
            state: state.clone(),
            user,
            client,
            access,
        })
    }
}
