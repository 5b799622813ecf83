//! Projects, their environments and members, and each project's audit log.
//!
//! Every URL under `/api/projects/{slug}` is resolved through the caller's membership
//! ([`ProjectAccess::load`]): a project the caller is not a member of answers 404, a role too
//! low for a write 403. Writes go through [`crate::write::ProjectWrite`], which re-reads the
//! caller's role inside their transaction under a lock, so a role taken away concurrently
//! cannot authorize a write; fields only owners may set are checked one by one (no mass
//! assignment). Every statement is in [`store`].

mod audit_log;
mod environments;
mod members;
mod project;
pub mod store;

use crate::{AppState, access::InProject, db::Read, error::ApiError};
use faro_types::validate;
use serde::Deserialize;
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

/// `/api/projects/{slug}`: the project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project's slug
    pub slug: String,
}

/// `/api/projects/{slug}/environments/{name}`: one environment of the project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnvironmentPath {
    /// The project's slug
    pub slug: String,
    /// The environment's name
    pub name: String,
}

/// `/api/projects/{slug}/members/{user_id}`: one member of the project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The project's slug
    pub slug: String,
    /// The member's user id (anything else names no member: 404)
    #[param(value_type = u64)]
    pub user_id: String,
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
        crate::paging::limit(self.limit, DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// The cursor, with an empty `?cursor=` meaning none.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|c| !c.is_empty())
    }
}

/// `GET /api/projects?organization=&cursor=&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProjectsQuery {
    /// Only the projects of the organization of this slug (none when the caller does not
    /// belong to it).
    pub organization: Option<String>,
    /// The `next_cursor` of the previous page; absent (or empty) for the first page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The slug a cursor of the projects list carries (the last slug of a page).
fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    crate::paging::decode(cursor, |slug| {
        validate::slug(&slug).is_none().then_some(slug)
    })
}

/// The fields a change sets, by name, for its audit entry.
#[derive(Debug, Default)]
struct Changes(serde_json::Map<String, serde_json::Value>);

impl Changes {
    /// Sets `field` to `value` when one is given and it differs, noting it as `name`:
    /// whether it did.
    fn set<T: PartialEq + serde::Serialize>(
        &mut self,
        name: &str,
        field: &mut T,
        value: Option<T>,
    ) -> bool {
        match value {
            Some(value) if value != *field => {
                self.0.insert(name.to_owned(), serde_json::json!(value));
                *field = value;
                true
            }
            _ => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The audit entry's short JSON `details`.
    fn details(self) -> String {
        serde_json::Value::Object(self.0).to_string()
    }
}

impl InProject {
    /// The project as it is now, as the caller sees it (a plain read).
    pub(crate) async fn project(&self) -> Result<faro_types::Project, ApiError> {
        let access = &self.access;
        store::project(&self.state.db, access.project_id, access.role, Read::Plain)
            .await?
            .ok_or(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_and_names_only_the_fields_that_differ() {
        let (mut name, mut production) = ("api".to_owned(), false);
        let mut changes = Changes::default();
        assert!(!changes.set("name", &mut name, Some("api".to_owned())));
        assert!(!changes.set("production", &mut production, None));
        assert!(changes.is_empty());
        assert!(changes.set("production", &mut production, Some(true)));
        assert!(production);
        assert_eq!(changes.details(), r#"{"production":true}"#);
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_values() {
        let cursor = crate::paging::encode("shop-api");
        assert_eq!(decode_cursor(&cursor).expect("valid"), "shop-api");
        for bad in ["zz", "41", &hex::encode("AT#2026"), ""] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
