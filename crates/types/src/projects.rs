use crate::{FieldError, validate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A member's role in a project. Owners manage members and delete the project; maintainers
/// change the project and release; viewers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Maintainer,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Maintainer => "maintainer",
            Self::Owner => "owner",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Viewer, Self::Maintainer, Self::Owner]
            .into_iter()
            .find(|r| r.as_str() == value)
    }

    pub fn can_write(self) -> bool {
        self >= Self::Maintainer
    }
}

/// `POST /api/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The slug of the organization the project goes to (one the caller is an admin or owner
    /// of); optional when the caller belongs to exactly one organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    pub slug: String,
    pub name: String,
    pub sleakops_project: String,
    pub repository_url: String,
    pub default_branch: String,
}

impl CreateProject {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "organization",
                self.organization.as_deref().and_then(validate::slug),
            )
            .check("slug", validate::slug(&self.slug))
            .check("name", validate::display_name(&self.name))
            .check(
                "sleakops_project",
                validate::external_name(&self.sleakops_project),
            )
            .check(
                "repository_url",
                validate::repository_url(&self.repository_url),
            )
            .check("default_branch", validate::branch(&self.default_branch))
            .finish()
    }
}

/// `PATCH /api/projects/{slug}`: only the fields present change. The slug never changes (it is
/// in every URL). `sleakops_project` decides where deployments go, so only owners may set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleakops_project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
}

impl UpdateProject {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "name",
                self.name.as_deref().and_then(validate::display_name),
            )
            .check(
                "sleakops_project",
                self.sleakops_project
                    .as_deref()
                    .and_then(validate::external_name),
            )
            .check(
                "repository_url",
                self.repository_url
                    .as_deref()
                    .and_then(validate::repository_url),
            )
            .check(
                "default_branch",
                self.default_branch.as_deref().and_then(validate::branch),
            )
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Project {
    pub id: u64,
    /// The slug of the organization the project belongs to.
    pub organization: String,
    pub slug: String,
    pub name: String,
    pub sleakops_project: String,
    pub repository_url: String,
    pub default_branch: String,
    /// The caller's role in this project.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/projects/{slug}/environments`. Only owners may create production environments,
/// or set `requires_approval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    pub name: String,
    pub sleakops_environment: String,
    #[serde(default)]
    pub production: bool,
    /// Whether each release, promotion or rollback to the environment waits for a second
    /// person's approval. Absent: as `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_approval: Option<bool>,
}

impl CreateEnvironment {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("name", validate::slug(&self.name))
            .check(
                "sleakops_environment",
                validate::external_name(&self.sleakops_environment),
            )
            .finish()
    }
}

/// `PATCH /api/projects/{slug}/environments/{name}`. Only owners may change `production` or
/// `requires_approval`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleakops_environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_approval: Option<bool>,
}

impl UpdateEnvironment {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "sleakops_environment",
                self.sleakops_environment
                    .as_deref()
                    .and_then(validate::external_name),
            )
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Environment {
    pub id: u64,
    pub name: String,
    pub sleakops_environment: String,
    pub production: bool,
    /// Releases, promotions and rollbacks here wait for approval by a project owner or an
    /// organization owner or admin other than the requester.
    pub requires_approval: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What runs there: the release that reached `deployed` last; `None` before any did
    /// (and in the answer to its creation).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    #[serde(default)]
    pub running: Option<RunningRelease>,
}

/// The release an environment runs: of its releases with status `deployed`, the one with
/// the latest `deployed_at` (of two at the same instant, the later one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunningRelease {
    pub release_id: u64,
    pub branch: String,
    /// `None`: a branch head whose commit SleakOps did not report.
    pub commit_sha: Option<String>,
    pub tag: Option<String>,
    pub sleakops_build_id: Option<String>,
    /// Since when it runs there.
    pub deployed_at: DateTime<Utc>,
}

/// `POST /api/projects/{slug}/members`: adds an existing user by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub role: Role,
}

impl AddMember {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("email", validate::email(&self.email))
            .finish()
    }
}

/// `PATCH /api/projects/{slug}/members/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Member {
    pub user_id: u64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub added_at: DateTime<Utc>,
}
