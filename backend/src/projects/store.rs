//! Projects, their environments and memberships in MySQL: every statement of the feature.
//!
//! Lock order: a write locks membership rows first ([`caller_role`] or [`lock_members`]),
//! then the rows it changes, so concurrent writes never wait on each other in a cycle.

use crate::db::Read;
use chrono::{DateTime, Utc};
use faro_types::{Environment, Member, Project, Role};
use sqlx::{MySqlConnection, MySqlExecutor};

// Memberships.

/// How a URL names a project: by slug, or by id through a child object such as a release.
#[derive(Debug, Clone, Copy)]
pub enum ProjectKey<'a> {
    Slug(&'a str),
    Id(u64),
}

/// The id and slug of the project `key` names and `user_id`'s role in it, if they are a
/// member.
pub async fn membership(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
    key: ProjectKey<'_>,
) -> Result<Option<(u64, String, Role)>, sqlx::Error> {
    macro_rules! of_project {
        ($key:literal) => {
            concat!(
                "SELECT p.id, p.slug, m.role FROM projects p \
                 JOIN memberships m ON m.project_id = p.id AND m.user_id = ? WHERE ",
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

/// `user_id`'s role, under a shared lock on their membership row held until commit.
pub async fn caller_role(
    tx: &mut MySqlConnection,
    project_id: u64,
    user_id: u64,
) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT role FROM memberships WHERE project_id = ? AND user_id = ? LOCK IN SHARE MODE",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(tx)
    .await
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

/// The ids of the projects `user_id` is a member of.
pub async fn project_ids_of(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
) -> Result<Vec<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT project_id FROM memberships WHERE user_id = ?")
        .bind(user_id)
        .fetch_all(db)
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
        "INSERT INTO projects (slug, name, sleakops_project, repository_url, default_branch, \
         created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
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

/// The columns of a [`Project`] but the caller's role, from `projects p`.
macro_rules! project_columns {
    () => {
        "p.id, p.slug, p.name, p.sleakops_project, p.repository_url, p.default_branch, \
         p.created_at, p.updated_at"
    };
}

/// Up to `limit` of `user_id`'s projects with slugs after `after`, ordered by slug.
pub async fn projects_of(
    db: impl MySqlExecutor<'_>,
    user_id: u64,
    after: &str,
    limit: u32,
) -> Result<Vec<Project>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        ", m.role FROM memberships m \
         JOIN projects p ON p.id = m.project_id \
         WHERE m.user_id = ? AND p.slug > ? \
         ORDER BY p.slug LIMIT ?"
    ))
    .bind(user_id)
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
        "SELECT id, name, sleakops_environment, production, created_at, updated_at \
         FROM environments "
    };
}

pub async fn environments(
    db: impl MySqlExecutor<'_>,
    project_id: u64,
) -> Result<Vec<Environment>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_environments!(),
        "WHERE project_id = ? ORDER BY name"
    ))
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// The project's environment `name`.
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
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(project_id)
    .bind(&environment.name)
    .bind(&environment.sleakops_environment)
    .bind(environment.production)
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
        "UPDATE environments SET sleakops_environment = ?, production = ?, updated_at = ? \
         WHERE id = ? AND project_id = ?",
    )
    .bind(&environment.sleakops_environment)
    .bind(environment.production)
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
