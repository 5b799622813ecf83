//! Organizations: who owns projects and the SleakOps key they deploy with, their members,
//! and the invitations through which anyone joins one.
//!
//! Every URL under `/api/orgs/{org}` is resolved through the caller's membership
//! ([`InOrg`]): an organization the caller does not belong to answers 404, a role too low
//! 403. Writes go through [`OrgWrite`], which re-reads the caller's role inside their
//! transaction under a lock, as project writes do. Every statement is in [`store`].

mod invitations;
mod members;
mod org;
pub mod sleakops_key;
pub mod store;
mod write;

pub use invitations::{accept_in, record_joined, token_hash};
pub use org::{create_own, default_name};
pub use write::OrgWrite;

use crate::{AppState, auth::Caller, error::ApiError};
use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use faro_types::OrgRole;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(org::create_org, org::list_orgs))
        .routes(routes!(org::get_org, org::update_org, org::delete_org))
        .routes(routes!(org::list_audit))
        .routes(routes!(
            sleakops_key::set_sleakops_key,
            sleakops_key::delete_sleakops_key
        ))
        .routes(routes!(sleakops_key::list_sleakops_projects))
        .routes(routes!(members::list_members))
        .routes(routes!(members::update_member, members::remove_member))
        .routes(routes!(
            invitations::create_invitation,
            invitations::list_invitations
        ))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(invitations::preview_invitation))
        .routes(routes!(invitations::accept_invitation))
}

/// `/api/orgs/{org}`: the organization.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// The organization's slug
    pub org: String,
}

/// `/api/orgs/{org}/members/{user_id}`: one member of the organization.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgMemberPath {
    /// The organization's slug
    pub org: String,
    /// The member's user id (anything else names no member: 404)
    #[param(value_type = u64)]
    pub user_id: String,
}

/// `/api/orgs/{org}/invitations/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvitationPath {
    /// The organization's slug
    pub org: String,
    /// The invitation's id
    #[param(value_type = u64)]
    pub id: String,
}

/// `/api/invitations/{token}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The token of the invitation link (64 hexadecimal digits)
    pub token: String,
}

/// The caller's standing in one organization.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    pub org_id: u64,
    pub slug: String,
    pub role: OrgRole,
}

impl OrgAccess {
    /// The organization `slug` names, as `user_id` belongs to it; not found and not a member
    /// are the same 404.
    pub async fn load(state: &AppState, user_id: u64, slug: &str) -> Result<Self, ApiError> {
        let (org_id, role) = store::membership(&state.db, user_id, slug)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Self {
            org_id,
            slug: slug.to_owned(),
            role,
        })
    }

    /// Refuses callers below `needed`.
    pub fn require(&self, needed: OrgRole) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "This needs the {} role in organization {}; you are a {}.",
                needed.as_str(),
                self.slug,
                self.role.as_str()
            )))
        }
    }
}

/// A signed-in member of the organization the URL's `{org}` names.
#[derive(Debug)]
pub struct InOrg {
    pub caller: Caller,
    pub access: OrgAccess,
}

impl std::ops::Deref for InOrg {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl InOrg {
    /// The request's body, looked at only once the caller is at least `needs`.
    pub fn body<T>(
        &self,
        needs: OrgRole,
        body: Result<crate::http::ApiJson<T>, ApiError>,
    ) -> Result<T, ApiError> {
        self.access.require(needs)?;
        let crate::http::ApiJson(body) = body?;
        Ok(body)
    }

    /// Begins a write that needs the caller to be at least `needs` (see [`OrgWrite`]).
    pub async fn write(&self, lock: write::Lock, needs: OrgRole) -> Result<OrgWrite<'_>, ApiError> {
        OrgWrite::begin(&self.caller, &self.access, lock, needs).await
    }
}

impl FromRequestParts<AppState> for InOrg {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let slug = params.get("org").ok_or(ApiError::NotFound)?;
        let access = OrgAccess::load(state, caller.user.id, slug).await?;
        Ok(Self { caller, access })
    }
}

/// The slug an organization named `name` gets when none is chosen: its ASCII letters and
/// digits, dashed, starting with a letter.
pub fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    match slug.chars().next() {
        Some(c) if c.is_ascii_lowercase() => slug.to_owned(),
        Some(_) => format!("org-{slug}"),
        None => "org".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::slug_from;

    #[test]
    fn a_derived_slug_is_a_valid_slug() {
        for (name, slug) in [
            ("Ada Lovelace's organization", "ada-lovelace-s-organization"),
            ("42 Labs", "org-42-labs"),
            ("¡¡¡", "org"),
            ("  Émile   Zola ", "mile-zola"),
        ] {
            assert_eq!(slug_from(name), slug, "{name}");
            assert_eq!(faro_types::validate::slug(slug), None, "{slug}");
        }
        assert!(slug_from(&"a".repeat(300)).len() <= 40);
    }
}
