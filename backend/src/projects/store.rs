//! Projects, their environments and memberships in MySQL: every statement of the feature.
//!
//! Lock order: a write locks membership rows first ([`caller_role`] or [`lock_members`]),
//! then the rows it changes, so concurrent writes never wait on each other in a cycle.

use crate::db::Read;
use chrono::{DateTime, Utc};
use faro_types::{Environment, Member, OrgRole, Project, Role, RunningRelease};
use sqlx::{MySqlConnection, MySqlExecutor};

// Memberships.

/// How a URL names a project: by slug, or by id through a child object such as a release.
#[derive(Debug, Clone, Copy)]
pub enum ProjectKey<'a> {
    Slug(&'a str),
    Id(u64),
}

/// From `projects p`, the caller `?`'s standing in the project: `om` their membership of its
/// organization, `m` their membership of the project (if any). Which of them grants access is
/// [`sees_project!`]'s to say; [`effective_role!`] is the role it grants.
macro_rules! standing {
    () => {
        " JOIN org_members om ON om.org_id = p.org_id AND om.user_id = ? \
          LEFT JOIN memberships m ON m.project_id = p.id AND m.user_id = om.user_id "
    };
}
pub(crate) use standing;

/// With [`standing!`]: organization owners and admins see every project of their
/// organization; members only those they belong to.
macro_rules! sees_project {
    () => {
        " (om.role <> 'member' OR m.user_id IS NOT NULL) "
    };
}
pub(crate) use sees_project;

/// With [`standing!`]: organization owners and admins act on a project as its owner would.
macro_rules! effective_role {
    () => {
        " IF(om.role = 'member', m.role, 'owner') "
    };
}

/// The caller's standing in a project, as [`membership`] reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Standing {
    pub project_id: u64,
    pub org_id: u64,
    pub slug: String,
    pub role: Role,
}

/// The project `key` names and `user_id`'s effective role in it, if they may see it.
pub async fn membership(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
    key: ProjectKey<'_>,
) -> Result<Option<Standing>, sqlx::Error> {
    macro_rules! of_project {
        ($key:literal) => {
            concat!(
                "SELECT p.id AS project_id, p.org_id, p.slug, ",
                effective_role!(),
                " AS role FROM projects p ",
                standing!(),
                "WHERE ",
                sees_project!(),
                " AND ",
                $key
            )
        };
    }
    let query = match key {
        ProjectKey::Slug(slug) => sqlx::query_as(of_project!("p.slug = ?"))
            .bind(user_id)
            .bind(slug),
        ProjectKey::Id(id) => sqlx::query_as(of_project!("p.id = ?"))
            .bind(user_id)
            .bind(id),
    };
    query.fetch_optional(db).await
}

/// `user_id`'s effective role in project `project_id` of organization `org_id`, in one
/// round trip, under shared locks on their organization membership and their project
/// membership (not on the project's row: two writers that both go on to lock it for update
/// would deadlock), held until commit.
pub async fn caller_role(
    tx: &mut MySqlConnection,
    org_id: u64,
    project_id: u64,
    user_id: u64,
) -> Result<Option<Role>, sqlx::Error> {
    let roles: Option<(OrgRole, Option<Role>)> = sqlx::query_as(
        "SELECT om.role, m.role FROM org_members om \
         LEFT JOIN memberships m ON m.project_id = ? AND m.user_id = om.user_id \
         WHERE om.org_id = ? AND om.user_id = ? LOCK IN SHARE MODE",
    )
    .bind(project_id)
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(tx)
    .await?;
    Ok(roles.and_then(|(org_role, project_role)| effective(Some(org_role), project_role)))
}

/// The role a caller holds in a project from their organization role and their project role.
pub fn effective(org_role: Option<OrgRole>, project_role: Option<Role>) -> Option<Role> {
    match org_role? {
        role if role.runs_projects() => Some(Role::Owner),
        _ => project_role,
    }
}

/// Every membership of a project (user id and role), locked for update until commit.
pub async fn lock_members(
    tx: &mut MySqlConnection,
    project_id: u64,
) -> Result<Vec<(u64, Role)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, role FROM memberships WHERE project_id = ? ORDER BY user_id FOR UPDATE",
    )
    .bind(project_id)
    .fetch_all(tx)
    .await
}

pub async fn insert_member(
    tx: &mut MySqlConnection,
    project_id: u64,
    user_id: u64,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(tx)
    .await
    .map(drop)
}

pub async fn set_role(
    tx: &mut MySqlConnection,
    project_id: u64,
    user_id: u64,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET role = ? WHERE project_id = ? AND user_id = ?")
        .bind(role)
        .bind(project_id)
        .bind(user_id)
        .execute(tx)
        .await
        .map(drop)
}

pub async fn delete_member(
    tx: &mut MySqlConnection,
    project_id: u64,
    user_id: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM memberships WHERE project_id = ? AND user_id = ?")
        .bind(project_id)
        .bind(user_id)
        .execute(tx)
        .await
        .map(drop)
}

/// A [`Member`]: a membership with its account's email and name.
macro_rules! select_members {
    () => {
        "SELECT m.user_id, u.email, u.display_name AS name, m.role, m.created_at AS added_at \
         FROM memberships m JOIN users u ON u.id = m.user_id "
    };
}

/// One member with their account's email and name.
pub async fn member(
    db: impl MySqlExecutor<'_>,
    project_id: u64,
    user_id: u64,
) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_members!(),
        "WHERE m.project_id = ? AND m.user_id = ?"
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The project's members, in the order they were added.
pub async fn members(
    db: impl MySqlExecutor<'_>,
    project_id: u64,
) -> Result<Vec<Member>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_members!(),
        "WHERE m.project_id = ? ORDER BY m.created_at, m.user_id"
    ))
    .bind(project_id)
    .fetch_all(db)
    .await
}

// Projects.

/// The fields of a new project.
#[derive(Debug)]
pub struct NewProject<'a> {
    pub org_id: u64,
    pub slug: &'a str,
    pub name: &'a str,
    pub sleakops_project: &'a str,
    pub repository_url: &'a str,
    pub default_branch: &'a str,
    pub created_by: u64,
    pub now: DateTime<Utc>,
}

/// The new project's id, or `None` when the slug is taken.
pub async fn insert_project(
    tx: &mut MySqlConnection,
    new: &NewProject<'_>,
) -> Result<Option<u64>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO projects (org_id, slug, name, sleakops_project, repository_url, \
         default_branch, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(new.org_id)
    .bind(new.slug)
    .bind(new.name)
    .bind(new.sleakops_project)
    .bind(new.repository_url)
    .bind(new.default_branch)
    .bind(new.created_by)
    .bind(new.now)
    .bind(new.now)
    .execute(tx)
    .await;
    Ok(crate::db::unless_duplicate(inserted)?.map(|done| done.last_insert_id()))
}

/// The columns of a [`Project`] but the caller's role, from `projects p`. The organization's
/// slug is a subquery so that a locking read of the project does not lock its organization.
macro_rules! project_columns {
    () => {
        "p.id, (SELECT o.slug FROM organizations o WHERE o.id = p.org_id) AS organization, \
         p.slug, p.name, p.sleakops_project, p.repository_url, p.default_branch, \
         p.created_at, p.updated_at"
    };
}

/// Up to `limit` of the projects `user_id` sees with slugs after `after`, ordered by slug,
/// in organization `org_id` only when one is given.
pub async fn projects_of(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
    org_id: Option<u64>,
    after: &str,
    limit: u32,
) -> Result<Vec<Project>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        ", ",
        effective_role!(),
        " AS role FROM projects p ",
        standing!(),
        "WHERE ",
        sees_project!(),
        " AND (? IS NULL OR p.org_id = ?) AND p.slug > ? ORDER BY p.slug LIMIT ?"
    ))
    .bind(user_id)
    .bind(org_id)
    .bind(org_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The project as a caller of role `role` sees it.
pub async fn project(
    db: impl MySqlExecutor<'_>,
    id: u64,
    role: Role,
    read: Read,
) -> Result<Option<Project>, sqlx::Error> {
    let select = concat!(
        "SELECT ",
        project_columns!(),
        ", ? AS role FROM projects p WHERE p.id = ?"
    );
    sqlx::query_as(&read.sql(select))
        .bind(role)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Stores the changeable fields of `project` (the slug never changes).
pub async fn update_project(
    tx: &mut MySqlConnection,
    project: &Project,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projects SET name = ?, sleakops_project = ?, repository_url = ?, \
         default_branch = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&project.name)
    .bind(&project.sleakops_project)
    .bind(&project.repository_url)
    .bind(&project.default_branch)
    .bind(project.updated_at)
    .bind(project.id)
    .execute(tx)
    .await
    .map(drop)
}

/// Deletes the project; the foreign keys cascade to everything in it.
pub async fn delete_project(tx: &mut MySqlConnection, id: u64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projects WHERE id = ?")
        .bind(id)
        .execute(tx)
        .await
        .map(drop)
}

// Environments.

/// An [`Environment`]'s columns, from `environments`.
macro_rules! select_environments {
    () => {
        "SELECT id, name, sleakops_environment, production, requires_approval, created_at, \
         updated_at FROM environments "
    };
}

/// [`select_environments`] from `environments e`, with what runs in each (`run`, the
/// release of [`RunningRelease`]), found with `ix_releases_env_deployed` read backwards: one
/// index lookup per environment.
macro_rules! select_running_environments {
    () => {
        "SELECT e.id, e.name, e.sleakops_environment, e.production, e.requires_approval, \
         e.created_at, e.updated_at, run.id AS running_id, run.branch AS running_branch, \
         run.commit_sha AS running_commit_sha, run.tag AS running_tag, \
         run.sleakops_build_id AS running_build, run.deployed_at AS running_deployed_at \
         FROM environments e LEFT JOIN releases run ON run.id = (\
         SELECT d.id FROM releases d WHERE d.environment_id = e.id AND d.status = 'deployed' \
         ORDER BY d.deployed_at DESC, d.id DESC LIMIT 1) "
    };
}

/// A row of [`select_running_environments`].
#[derive(sqlx::FromRow)]
struct RunningRow {
    #[sqlx(flatten)]
    environment: Environment,
    running_id: Option<u64>,
    running_branch: Option<String>,
    running_commit_sha: Option<String>,
    running_tag: Option<String>,
    running_build: Option<String>,
    running_deployed_at: Option<DateTime<Utc>>,
}

impl From<RunningRow> for Environment {
    fn from(row: RunningRow) -> Self {
        let running = match (row.running_id, row.running_branch, row.running_deployed_at) {
            (Some(release_id), Some(branch), Some(deployed_at)) => Some(RunningRelease {
                release_id,
                branch,
                commit_sha: row.running_commit_sha,
                tag: row.running_tag,
                sleakops_build_id: row.running_build,
                deployed_at,
            }),
            _ => None,
        };
        Self {
            running,
            ..row.environment
        }
    }
}

/// The project's (`?`) environments by name, each with what runs there (public for the
/// plan check of the tests).
pub const ENVIRONMENTS: &str = concat!(
    select_running_environments!(),
    "WHERE e.project_id = ? ORDER BY e.name"
);

/// The project's environments by name, each with what runs there: one statement.
pub async fn environments(
    db: impl MySqlExecutor<'_>,
    project_id: u64,
) -> Result<Vec<Environment>, sqlx::Error> {
    let rows: Vec<RunningRow> = sqlx::query_as(ENVIRONMENTS)
        .bind(project_id)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(Environment::from).collect())
}

/// The project's environment `name` with what runs there (a plain read).
pub async fn environment_running(
    db: impl MySqlExecutor<'_>,
    project_id: u64,
    name: &str,
) -> Result<Option<Environment>, sqlx::Error> {
    let row: Option<RunningRow> = sqlx::query_as(concat!(
        select_running_environments!(),
        "WHERE e.project_id = ? AND e.name = ?"
    ))
    .bind(project_id)
    .bind(name)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Environment::from))
}

/// The project's environment `name` (`running` left out: see [`environment_running`]).
pub async fn environment(
    db: impl MySqlExecutor<'_>,
    project_id: u64,
    name: &str,
    read: Read,
) -> Result<Option<Environment>, sqlx::Error> {
    let select = concat!(select_environments!(), "WHERE project_id = ? AND name = ?");
    sqlx::query_as(&read.sql(select))
        .bind(project_id)
        .bind(name)
        .fetch_optional(db)
        .await
}

/// The new environment's id, or `None` when the project has one of this name.
pub async fn insert_environment(
    tx: &mut MySqlConnection,
    project_id: u64,
    environment: &Environment,
) -> Result<Option<u64>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO environments (project_id, name, sleakops_environment, production, \
         requires_approval, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(project_id)
    .bind(&environment.name)
    .bind(&environment.sleakops_environment)
    .bind(environment.production)
    .bind(environment.requires_approval)
    .bind(environment.created_at)
    .bind(environment.updated_at)
    .execute(tx)
    .await;
    Ok(crate::db::unless_duplicate(inserted)?.map(|done| done.last_insert_id()))
}

/// Stores the changeable fields of `environment` (the name never changes).
pub async fn update_environment(
    tx: &mut MySqlConnection,
    project_id: u64,
    environment: &Environment,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE environments SET sleakops_environment = ?, production = ?, \
         requires_approval = ?, updated_at = ? WHERE id = ? AND project_id = ?",
    )
    .bind(&environment.sleakops_environment)
    .bind(environment.production)
    .bind(environment.requires_approval)
    .bind(environment.updated_at)
    .bind(environment.id)
    .bind(project_id)
    .execute(tx)
    .await
    .map(drop)
}

/// Whether the environment has any release, under a shared lock on the one found.
pub async fn has_releases(
    tx: &mut MySqlConnection,
    environment_id: u64,
) -> Result<bool, sqlx::Error> {
    let release: Option<u64> = sqlx::query_scalar(
        "SELECT id FROM releases WHERE environment_id = ? LIMIT 1 LOCK IN SHARE MODE",
    )
    .bind(environment_id)
    .fetch_optional(tx)
    .await?;
    Ok(release.is_some())
}

pub async fn delete_environment(
    tx: &mut MySqlConnection,
    project_id: u64,
    environment_id: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM environments WHERE id = ? AND project_id = ?")
        .bind(environment_id)
        .bind(project_id)
        .execute(tx)
        .await
        .map(drop)
}
