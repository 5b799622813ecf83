//! Organizations: who owns projects and the SleakOps access they deploy with, and how people
//! join one (only by accepting an invitation).

use crate::{FieldError, validate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A member's role in an organization. Owners hold its credentials, members and existence;
/// admins manage members and projects (and act on every project as its owner would);
/// members see only the projects they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Member,
    Admin,
    Owner,
}

impl OrgRole {
    pub const ALL: [Self; 3] = [Self::Member, Self::Admin, Self::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// Whether this role sees and acts on every project of the organization as its owner.
    pub fn runs_projects(self) -> bool {
        self >= Self::Admin
    }
}

/// The most organizations one account may belong to.
pub const MAX_ORGS_PER_ACCOUNT: usize = 50;

/// `POST /api/orgs`: the caller becomes its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub slug: String,
    pub name: String,
}

impl CreateOrg {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("slug", validate::slug(&self.slug))
            .check("name", validate::display_name(&self.name))
            .finish()
    }
}

/// `PATCH /api/orgs/{org}`: only the fields present change; the slug never does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl UpdateOrg {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "name",
                self.name.as_deref().and_then(validate::display_name),
            )
            .finish()
    }
}

/// What anyone in the organization may know of its SleakOps key: never the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SleakopsKeyStatus {
    pub configured: bool,
    /// The key's last four characters, to tell keys apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    /// The e-mail of the owner who set it (absent once their account is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// The caller's role in it.
    pub role: OrgRole,
    pub sleakops_key: SleakopsKeyStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A SleakOps API key as the API takes it.
pub const SLEAKOPS_KEY: validate::Rule = validate::Rule {
    min_length: 8,
    max_length: 512,
    pattern: Some("^[!-~]+$"),
};

/// `PUT /api/orgs/{org}/sleakops-key`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetSleakopsKey {
    pub api_key: String,
}

impl SetSleakopsKey {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "api_key",
                validate::printable_ascii(&self.api_key, &SLEAKOPS_KEY),
            )
            .finish()
    }
}

impl fmt::Debug for SetSleakopsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetSleakopsKey")
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// A SleakOps project the organization's key reaches, with its environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SleakopsProject {
    pub name: String,
    pub environments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct OrgMember {
    pub user_id: u64,
    pub email: String,
    pub name: String,
    pub role: OrgRole,
    pub joined_at: DateTime<Utc>,
}

/// `PATCH /api/orgs/{org}/members/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgMember {
    pub role: OrgRole,
}

/// `POST /api/orgs/{org}/invitations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    pub role: OrgRole,
}

impl CreateInvitation {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("email", validate::email(&self.email))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: u64,
    pub email: String,
    pub role: OrgRole,
    pub status: InvitationStatus,
    /// The e-mail of who invited (absent once their account is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The answer to creating an invitation: the only time its token is shown. The inviter
/// passes the link on; whoever opens it signs in (or up) with the invited e-mail to accept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    pub token: String,
    /// The frontend's page that accepts it: `/invitations/<token>`.
    pub accept_path: String,
}

impl fmt::Debug for CreatedInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedInvitation")
            .field("invitation", &self.invitation)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// `GET /api/invitations/{token}`: what the holder of a link is invited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationPreview {
    pub organization: String,
    pub organization_name: String,
    pub email: String,
    pub role: OrgRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// An invitation token as it appears in a URL: 64 lowercase hexadecimal digits.
pub fn invitation_token(value: &str) -> bool {
    value.len() == INVITATION_TOKEN.max_length
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The token of an invitation link: 64 lowercase hexadecimal digits.
pub const INVITATION_TOKEN: validate::Rule = validate::Rule {
    min_length: 64,
    max_length: 64,
    pattern: Some("^[0-9a-f]+$"),
};

/// Why `value` cannot be the token of an invitation link, if it cannot.
pub fn invitation_token_problem(value: &str) -> Option<String> {
    (!invitation_token(value)).then(|| "must be the token of an invitation link".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_roles_order_and_round_trip() {
        assert!(OrgRole::Owner > OrgRole::Admin && OrgRole::Admin > OrgRole::Member);
        for role in OrgRole::ALL {
            assert_eq!(OrgRole::parse(role.as_str()), Some(role));
        }
        assert!(OrgRole::Admin.runs_projects() && !OrgRole::Member.runs_projects());
    }

    #[test]
    fn debug_never_shows_a_key_or_a_token() {
        let set = SetSleakopsKey {
            api_key: "sk-very-secret".into(),
        };
        assert!(!format!("{set:?}").contains("very-secret"));
        assert_eq!(
            set.validate().map_err(|e| e.len()),
            Ok(()),
            "a plausible key is valid"
        );
        let short = SetSleakopsKey {
            api_key: "abc".into(),
        };
        assert_eq!(short.validate().expect_err("short")[0].field, "api_key");
    }

    #[test]
    fn invitation_tokens_are_64_hex_digits() {
        assert!(invitation_token(&"a1".repeat(32)));
        assert!(!invitation_token(&"a".repeat(63)));
        assert!(!invitation_token(&format!("{}g", "a".repeat(63))));
        assert!(!invitation_token(&"A".repeat(64)));
    }
}
