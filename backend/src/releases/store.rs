//! Releases in MySQL: every statement of the feature, from the row as the API shows it to
//! the writes of creating, cancelling and numbering, and the delivery metrics' queries.

use crate::db::Read;
use chrono::{DateTime, NaiveDate, Utc};
use faro_types::{Approval, ApprovalDecision, Release, ReleaseStatus, RunningRelease, UserRef};
use sqlx::{
    MySql, MySqlConnection, MySqlExecutor, MySqlPool, mysql::MySqlArguments, query::QueryAs,
};

/// The columns [`ReleaseRow`] reads, from `releases r` and the tables `joins!` names.
macro_rules! columns {
    () => {
        "r.id, r.project_id, p.slug, e.name AS environment, e.production, r.branch, \
         r.commit_sha, r.tag, r.commit_time, r.status, r.sleakops_build_id, \
         r.sleakops_deployment_id, r.requested_by, u.display_name AS requested_by_name, \
         r.requested_at, r.started_at, r.deployed_at, r.finished_at, r.failure_reason, \
         r.notes, r.retry_of, r.promoted_from, r.rollback_of, r.build_of, \
         r.approval_expires_at, r.decided_by, d.display_name AS decided_by_name, r.decided_at, \
         r.decision_reason, \
         (SELECT CAST(GROUP_CONCAT(pt.id ORDER BY pt.id) AS CHAR) FROM releases pt \
          WHERE pt.promoted_from = r.id) AS promoted_to"
    };
}

/// The tiny tables by primary key, whatever their size: left to itself, the optimizer scans
/// them into a join buffer, which loses the releases' index order and sorts the result.
macro_rules! joins {
    () => {
        concat!(
            "JOIN projects p ON p.id = r.project_id ",
            people_and_places!()
        )
    };
}

/// The environment, the requester and the approver of release `r`, by primary key (see
/// `joins!`).
macro_rules! people_and_places {
    () => {
        "JOIN environments e FORCE INDEX (PRIMARY) ON e.id = r.environment_id \
         JOIN users u FORCE INDEX (PRIMARY) ON u.id = r.requested_by \
         LEFT JOIN users d FORCE INDEX (PRIMARY) ON d.id = r.decided_by"
    };
}

/// A release as the API shows it, with its project's id.
#[derive(Debug, sqlx::FromRow)]
struct ReleaseRow {
    id: u64,
    project_id: u64,
    slug: String,
    environment: String,
    production: bool,
    branch: String,
    commit_sha: Option<String>,
    tag: Option<String>,
    commit_time: Option<DateTime<Utc>>,
    status: ReleaseStatus,
    sleakops_build_id: Option<String>,
    sleakops_deployment_id: Option<String>,
    requested_by: u64,
    requested_by_name: String,
    requested_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    deployed_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    failure_reason: Option<String>,
    notes: Option<String>,
    retry_of: Option<u64>,
    promoted_from: Option<u64>,
    rollback_of: Option<u64>,
    build_of: Option<u64>,
    approval_expires_at: Option<DateTime<Utc>>,
    decided_by: Option<u64>,
    decided_by_name: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
    /// Ids, comma-separated.
    promoted_to: Option<String>,
}

impl From<ReleaseRow> for Release {
    fn from(row: ReleaseRow) -> Self {
        let decision = match (row.decided_by, row.decided_by_name, row.decided_at) {
            (Some(id), Some(name), Some(at)) => Some(ApprovalDecision {
                approved: row.status != ReleaseStatus::Rejected,
                by: UserRef { id, name },
                at,
                reason: row.decision_reason,
            }),
            _ => None,
        };
        let approval = row.approval_expires_at.map(|expires_at| Approval {
            expires_at,
            decision,
        });
        let promoted_to = row
            .promoted_to
            .iter()
            .flat_map(|ids| ids.split(','))
            .filter_map(|id| id.parse().ok())
            .collect();
        Self {
            id: row.id,
            project: row.slug,
            environment: row.environment,
            production: row.production,
            branch: row.branch,
            commit_sha: row.commit_sha,
            tag: row.tag,
            commit_time: row.commit_time,
            status: row.status,
            sleakops_build_id: row.sleakops_build_id,
            sleakops_deployment_id: row.sleakops_deployment_id,
            requested_by: UserRef {
                id: row.requested_by,
                name: row.requested_by_name,
            },
            requested_at: row.requested_at,
            started_at: row.started_at,
            deployed_at: row.deployed_at,
            finished_at: row.finished_at,
            failure_reason: row.failure_reason,
            notes: row.notes,
            retry_of: row.retry_of,
            promoted_from: row.promoted_from,
            promoted_to,
            rollback_of: row.rollback_of,
            build_of: row.build_of,
            approval,
        }
    }
}

/// One release with its project's id (for the caller's authorization), or `None`.
pub async fn find(db: &MySqlPool, id: u64) -> Result<Option<(u64, Release)>, sqlx::Error> {
    let row: Option<ReleaseRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM releases r ",
        joins!(),
        " WHERE r.id = ?"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.project_id, row.into())))
}

/// The id of release `id`'s project.
pub async fn project_of(db: &MySqlPool, id: u64) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT project_id FROM releases WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What a project's release list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// An environment's name.
    pub environment: Option<String>,
    pub status: Option<ReleaseStatus>,
    pub branch: Option<String>,
}

/// Up to `limit` releases of project `slug` older than `before`, newest first, as
/// `user_id` sees them (a member of the project, or an owner or admin of its organization). The membership check and the environment's name are part of the
/// query, so a page is one round trip; it is empty for a stranger (and for an unknown
/// environment), and the caller finds out which.
///
/// Each filter has an index that ends in the id, and a page reads the most selective one
/// backwards: status, else branch, else environment, else just the project; the other
/// filters apply to the rows it reads. The join order and the index are fixed: project,
/// membership (and environment) are single rows by unique key, so the page is the first
/// rows of one index range joined by primary key. Left to itself the optimizer reads the
/// tiny tables into a join buffer or merges two indexes, and either way reads and sorts
/// every release of the project; its range estimates on four candidate indexes also cost
/// more than the query (measured with `ANALYZE`: 0.43 ms and 0.37 ms of optimization
/// before, a quarter of that after).
pub async fn member_page(
    db: &MySqlPool,
    user_id: u64,
    slug: &str,
    filter: &ListFilter,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<Release>, sqlx::Error> {
    let before = before.unwrap_or(u64::MAX);
    let environment = filter.environment.as_deref();
    let branch = filter.branch.as_deref();
    let query = if let Some(status) = filter.status {
        sqlx::query_as(BY_STATUS)
            .bind(user_id)
            .bind(environment)
            .bind(slug)
            .bind(status)
            .bind(branch)
            .bind(branch)
            .bind(environment)
    } else if let Some(branch) = branch {
        sqlx::query_as(BY_BRANCH)
            .bind(user_id)
            .bind(environment)
            .bind(slug)
            .bind(branch)
            .bind(environment)
    } else if let Some(environment) = environment {
        sqlx::query_as(BY_ENVIRONMENT)
            .bind(user_id)
            .bind(environment)
            .bind(slug)
    } else {
        sqlx::query_as(BY_PROJECT).bind(user_id).bind(slug)
    };
    let rows: Vec<ReleaseRow> = query.bind(before).bind(limit).fetch_all(db).await?;
    Ok(rows.into_iter().map(Release::from).collect())
}

/// A page of member `?`'s releases of the project of slug `?` read backwards along
/// `$index` from before `?`, `?` of them: `$environment` joins the filter's environment
/// `fe` (binding its name) and `$filter` narrows the rows (binding its values).
macro_rules! member_page_sql {
    ($environment:literal, $index:literal, $filter:literal) => {
        concat!(
            "SELECT STRAIGHT_JOIN ",
            columns!(),
            " FROM projects p ",
            crate::projects::store::standing!(),
            $environment,
            " JOIN releases r FORCE INDEX (",
            $index,
            ") ON r.project_id = p.id ",
            people_and_places!(),
            " WHERE p.slug = ? AND ",
            crate::projects::store::sees_project!(),
            $filter,
            " AND r.id < ? ORDER BY r.id DESC LIMIT ?"
        )
    };
}

/// Binds: user, environment name (or NULL), slug, status, branch (or NULL) twice,
/// environment name (or NULL), before, limit.
const BY_STATUS: &str = member_page_sql!(
    "LEFT JOIN environments fe ON fe.project_id = p.id AND fe.name = ?",
    "ix_releases_project_status",
    "AND r.status = ? AND (? IS NULL OR r.branch = ?) \
     AND (? IS NULL OR r.environment_id = fe.id)"
);

/// Binds: user, environment name (or NULL), slug, branch, environment name (or NULL),
/// before, limit.
const BY_BRANCH: &str = member_page_sql!(
    "LEFT JOIN environments fe ON fe.project_id = p.id AND fe.name = ?",
    "ix_releases_project_branch",
    "AND r.branch = ? AND (? IS NULL OR r.environment_id = fe.id)"
);

/// Binds: user, environment name, slug, before, limit.
const BY_ENVIRONMENT: &str = member_page_sql!(
    "JOIN environments fe ON fe.project_id = p.id AND fe.name = ?",
    "ix_releases_environment",
    "AND r.environment_id = fe.id"
);

/// Binds: user, slug, before, limit.
const BY_PROJECT: &str = member_page_sql!("", "ix_releases_project", "");

/// The newest `limit` releases across every project `user_id` sees (a member of the project,
/// or an owner or admin of its organization), newest first: one query with two binds,
/// whatever the number of projects or memberships.
///
/// The inner query finds the ids from indexes alone: the caller's organizations
/// (`ix_org_members_user`), their projects (`ix_projects_org`), the caller's membership of
/// each (primary key), and each project's release ids (`ix_releases_project`, which holds
/// the id), keeping the newest `limit` of them; only those rows are then read, by primary
/// key. See the `dashboard_*` test for the plan as `EXPLAIN` shows it.
pub async fn newest_seen_by(
    db: &MySqlPool,
    user_id: u64,
    limit: u32,
) -> Result<Vec<Release>, sqlx::Error> {
    let rows: Vec<ReleaseRow> = sqlx::query_as(NEWEST_SEEN_BY)
        .bind(user_id)
        .bind(limit)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(Release::from).collect())
}

/// Binds: user, limit.
pub const NEWEST_SEEN_BY: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM (SELECT r.id FROM projects p ",
    crate::projects::store::standing!(),
    " JOIN releases r FORCE INDEX (ix_releases_project) ON r.project_id = p.id WHERE ",
    crate::projects::store::sees_project!(),
    " ORDER BY r.id DESC LIMIT ?) newest \
     JOIN releases r FORCE INDEX (PRIMARY) ON r.id = newest.id ",
    joins!(),
    " ORDER BY r.id DESC"
);

/// What a release deploys: a commit of a branch, to an environment. A retry copies it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Commit {
    pub environment_id: u64,
    pub branch: String,
    /// `None`: the branch's head, until SleakOps reports the commit it built.
    pub commit_sha: Option<String>,
    pub tag: Option<String>,
    pub commit_time: Option<DateTime<Utc>>,
}

/// The fields of a release a request decides; the rest starts empty.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub project_id: u64,
    pub commit: Commit,
    pub requested_by: u64,
    pub requested_at: DateTime<Utc>,
    pub retry_of: Option<u64>,
    /// A promotion's source release.
    pub promoted_from: Option<u64>,
    /// The release a rollback replaces.
    pub rollback_of: Option<u64>,
    /// The release whose SleakOps build is deployed as is, and that build's id: such a
    /// release is never built.
    pub build_of: Option<u64>,
    pub build: Option<String>,
    /// Set when the release waits for approval until then.
    pub approval_expires_at: Option<DateTime<Utc>>,
}

impl NewRelease {
    /// The status the release starts in.
    pub fn status(&self) -> ReleaseStatus {
        if self.approval_expires_at.is_some() {
            ReleaseStatus::AwaitingApproval
        } else {
            ReleaseStatus::Queued
        }
    }
}

/// Inserts a release (queued, or awaiting approval) whose first timeline event (seq 1) the
/// caller writes, and the outbox row that hands it to the release worker, in the caller's
/// transaction: the new id, or `None` when the same user already has a release for
/// `idempotency_key` (its hash). The outbox row of a release awaiting approval is due when
/// the approval expires: the worker sees it only then (to expire it), unless an approval
/// makes it due sooner.
pub async fn insert(
    tx: &mut MySqlConnection,
    new: &NewRelease,
    idempotency_key: &str,
) -> Result<Option<u64>, sqlx::Error> {
    let built_at = new.build.is_some().then_some(new.requested_at);
    let inserted = sqlx::query(
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, tag, commit_time, \
         status, sleakops_build_id, built_at, requested_by, requested_at, retry_of, \
         promoted_from, rollback_of, build_of, approval_expires_at, idempotency_key, event_seq, \
         updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
    )
    .bind(new.project_id)
    .bind(new.commit.environment_id)
    .bind(&new.commit.branch)
    .bind(&new.commit.commit_sha)
    .bind(&new.commit.tag)
    .bind(new.commit.commit_time)
    .bind(new.status())
    .bind(&new.build)
    .bind(built_at)
    .bind(new.requested_by)
    .bind(new.requested_at)
    .bind(new.retry_of)
    .bind(new.promoted_from)
    .bind(new.rollback_of)
    .bind(new.build_of)
    .bind(new.approval_expires_at)
    .bind(idempotency_key)
    .bind(new.requested_at)
    .execute(&mut *tx)
    .await;
    let Some(id) = crate::db::unless_duplicate(inserted)?.map(|done| done.last_insert_id()) else {
        return Ok(None);
    };
    let payload = serde_json::json!({ "release_id": id }).to_string();
    sqlx::query(
        "INSERT INTO outbox (kind, release_id, payload, next_attempt_at, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(OUTBOX_START)
    .bind(id)
    .bind(payload)
    .bind(new.approval_expires_at.unwrap_or(new.requested_at))
    .bind(new.requested_at)
    .bind(new.requested_at)
    .execute(&mut *tx)
    .await?;
    Ok(Some(id))
}

/// The outbox kind that asks the release worker to build and deploy a release; its payload
/// is `{"release_id": <id>}`.
pub const OUTBOX_START: &str = "release.start";

/// A release's status and last timeline sequence number: locked, for a transaction that
/// changes the release; plain, for streams to know when they are done.
pub async fn progress(
    db: impl MySqlExecutor<'_>,
    id: u64,
    read: Read,
) -> Result<Option<(ReleaseStatus, u64)>, sqlx::Error> {
    let select = read.sql("SELECT status, event_seq FROM releases WHERE id = ?");
    let row: Option<(ReleaseStatus, u32)> =
        sqlx::query_as(&select).bind(id).fetch_optional(db).await?;
    Ok(row.map(|(status, seq)| (status, seq.into())))
}

/// What SleakOps was asked for a release: the ids it answered, and whether a build or a
/// deployment was requested (its trigger may be in flight).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SleakOpsWork {
    pub build: Option<String>,
    pub build_requested: bool,
    pub deployment: Option<String>,
    pub deployment_requested: bool,
}

/// Read in the caller's transaction, which holds the release row's lock.
pub async fn sleakops_work(
    tx: &mut MySqlConnection,
    id: u64,
) -> Result<Option<SleakOpsWork>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sleakops_build_id AS build, build_requested_at IS NOT NULL AS build_requested, \
         sleakops_deployment_id AS deployment, \
         deployment_requested_at IS NOT NULL AS deployment_requested \
         FROM releases WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}

/// Marks the release cancelled and drops its pending outbox work, in the caller's
/// transaction (which holds the row's lock): how many outbox rows were dropped.
pub async fn cancel(
    tx: &mut MySqlConnection,
    id: u64,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE releases SET status = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let dropped = sqlx::query(
        "UPDATE outbox SET done = TRUE, updated_at = ? WHERE release_id = ? AND done = FALSE",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(dropped)
}

/// What a retry copies from the release it retries (and a promotion or a rollback from the
/// release whose build it deploys), with the environment's name and the release's status.
#[derive(Debug, sqlx::FromRow)]
pub struct RetrySource {
    #[sqlx(flatten)]
    pub commit: Commit,
    pub environment: String,
    pub status: ReleaseStatus,
    /// SleakOps' id of the release's build, once it has one (preset when it deploys the
    /// build of `build_of`).
    pub sleakops_build_id: Option<String>,
    pub build_of: Option<u64>,
    pub promoted_from: Option<u64>,
    pub rollback_of: Option<u64>,
}

pub async fn retry_source(db: &MySqlPool, id: u64) -> Result<Option<RetrySource>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.environment_id, e.name AS environment, r.branch, r.commit_sha, r.tag, \
         r.commit_time, r.status, r.sleakops_build_id, r.build_of, r.promoted_from, \
         r.rollback_of \
         FROM releases r JOIN environments e ON e.id = r.environment_id WHERE r.id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What a rollback of environment `environment_id` from the release `running` there goes
/// back to: the newest deployed release before it with a build other than the running one's.
pub async fn previous_build(
    db: &MySqlPool,
    environment_id: u64,
    running: &RunningRelease,
) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT r.id FROM releases r \
         JOIN releases cur ON cur.id = ? \
         WHERE r.environment_id = ? AND r.status = 'deployed' \
         AND r.sleakops_build_id IS NOT NULL AND NOT (r.sleakops_build_id <=> ?) \
         AND (r.deployed_at < cur.deployed_at \
              OR (r.deployed_at = cur.deployed_at AND r.id < cur.id)) \
         ORDER BY r.deployed_at DESC, r.id DESC LIMIT 1",
    )
    .bind(running.release_id)
    .bind(environment_id)
    .bind(&running.sleakops_build_id)
    .fetch_optional(db)
    .await
}

/// The release the user created with the idempotency key of hash `key_hash`.
pub async fn by_idempotency_key(
    db: &MySqlPool,
    user_id: u64,
    key_hash: &str,
) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM releases WHERE requested_by = ? AND idempotency_key = ?")
        .bind(user_id)
        .bind(key_hash)
        .fetch_optional(db)
        .await
}

pub async fn set_notes(
    tx: &mut MySqlConnection,
    id: u64,
    notes: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE releases SET notes = ?, updated_at = ? WHERE id = ?")
        .bind(notes)
        .bind(now)
        .bind(id)
        .execute(tx)
        .await
        .map(drop)
}

/// Hands out the release's next timeline sequence number (see
/// [`super::timeline::next_seq`]), or `None` when there is no such release.
pub async fn next_seq(tx: &mut MySqlConnection, id: u64) -> Result<Option<u64>, sqlx::Error> {
    let updated = sqlx::query(concat!(
        "UPDATE releases SET ",
        super::timeline::next_seq_sql!(),
        " WHERE id = ?"
    ))
    .bind(id)
    .execute(tx)
    .await?;
    Ok((updated.rows_affected() > 0).then(|| updated.last_insert_id()))
}

// Delivery metrics (see `super::metrics` for what each figure means).

/// The deployed releases of project `?` that a rollback replaced, with when the first of
/// their rollbacks was deployed (`restored_at`, in the window `[?, ?)`): the failed changes
/// that [`FIGURES`] and [`DAILY`] both count.
macro_rules! rolled_back {
    () => {
        "SELECT b.environment_id, b.deployed_at, MIN(rb.deployed_at) AS restored_at
    FROM releases rb JOIN releases b ON b.id = rb.rollback_of
    WHERE rb.project_id = ? AND rb.status = 'deployed' AND b.status = 'deployed'
    GROUP BY b.id, b.environment_id, b.deployed_at
    HAVING MIN(rb.deployed_at) >= ? AND MIN(rb.deployed_at) < ?"
    };
}

/// The rows of `$from` with their rank by `$value` in their environment (`rn`, from 1) and
/// the environment's count (`n`): what [`nearest_rank!`] picks a percentile from.
macro_rules! ranked {
    ($value:literal, $from:literal) => {
        concat!(
            "SELECT environment_id, ",
            $value,
            ",
           ROW_NUMBER() OVER (PARTITION BY environment_id ORDER BY ",
            $value,
            ") AS rn,
           COUNT(*) OVER (PARTITION BY environment_id) AS n
    FROM ",
            $from
        )
    };
}

/// The `$p`-th percentile (nearest rank, `$p` in whole percent) of `$value` in rows
/// [`ranked!`], as `$alias`.
macro_rules! nearest_rank {
    ($value:literal, $p:literal, $alias:literal) => {
        concat!(
            "MAX(CASE WHEN rn = (",
            $p,
            " * n + 99) DIV 100 THEN ",
            $value,
            " END) AS ",
            $alias
        )
    };
}

/// One query for the per-environment figures. Binds: the window four times (deployments,
/// failed deployments, rollbacks, approvals), then the project (environments).
const FIGURES: &str = concat!(
    "
WITH deployed AS (
    SELECT environment_id,
           CAST(GREATEST(0, TIMESTAMPDIFF(SECOND, COALESCE(commit_time, requested_at), deployed_at)) AS SIGNED) AS lead_secs
    FROM releases
    WHERE project_id = ? AND status = 'deployed' AND deployed_at >= ? AND deployed_at < ?
),
lead_ranked AS (",
    ranked!("lead_secs", "deployed"),
    "
),
lead_times AS (
    SELECT environment_id,
           MAX(n) AS deployments,
           ",
    nearest_rank!("lead_secs", 50, "lead_median"),
    ",
           ",
    nearest_rank!("lead_secs", 90, "lead_p90"),
    "
    FROM lead_ranked
    GROUP BY environment_id
),
failed AS (
    SELECT f.environment_id, 0 AS rolled_back, f.finished_at AS failed_at,
           (SELECT MIN(d.deployed_at) FROM releases d
             WHERE d.environment_id = f.environment_id AND d.status = 'deployed'
               AND d.deployed_at > f.finished_at) AS restored_at
    FROM releases f
    WHERE f.project_id = ? AND f.status = 'failed' AND f.sleakops_deployment_id IS NOT NULL
      AND f.finished_at >= ? AND f.finished_at < ?
    UNION ALL
    SELECT environment_id, 1, deployed_at, restored_at FROM (",
    rolled_back!(),
    ") rolled_back
),
failures AS (
    SELECT environment_id, COUNT(*) AS failed_deployments, SUM(rolled_back) AS rolled_back
    FROM failed
    GROUP BY environment_id
),
restore_ranked AS (",
    ranked!(
        "restore_secs",
        "(
        SELECT environment_id,
               CAST(TIMESTAMPDIFF(SECOND, failed_at, restored_at) AS SIGNED) AS restore_secs
        FROM failed
        WHERE restored_at IS NOT NULL
    ) restored"
    ),
    "
),
restores AS (
    SELECT environment_id, ",
    nearest_rank!("restore_secs", 50, "restore_median"),
    "
    FROM restore_ranked
    GROUP BY environment_id
),
approval_ranked AS (",
    ranked!(
        "wait_secs",
        "(
        SELECT environment_id,
               CAST(GREATEST(0, TIMESTAMPDIFF(SECOND, requested_at, decided_at)) AS SIGNED) AS wait_secs
        FROM releases
        WHERE project_id = ? AND decided_at >= ? AND decided_at < ? AND status <> 'rejected'
    ) approved"
    ),
    "
),
approvals AS (
    SELECT environment_id, ",
    nearest_rank!("wait_secs", 50, "approval_median"),
    "
    FROM approval_ranked
    GROUP BY environment_id
)
SELECT e.id, e.name, e.production,
       CAST(COALESCE(l.deployments, 0) AS SIGNED) AS deployments,
       CAST(COALESCE(f.failed_deployments, 0) AS SIGNED) AS failed_deployments,
       CAST(COALESCE(f.rolled_back, 0) AS SIGNED) AS rolled_back,
       CAST(l.lead_median AS SIGNED) AS lead_median,
       CAST(l.lead_p90 AS SIGNED) AS lead_p90,
       CAST(r.restore_median AS SIGNED) AS restore_median,
       CAST(a.approval_median AS SIGNED) AS approval_median
FROM environments e
LEFT JOIN lead_times l ON l.environment_id = e.id
LEFT JOIN failures f ON f.environment_id = e.id
LEFT JOIN restores r ON r.environment_id = e.id
LEFT JOIN approvals a ON a.environment_id = e.id
WHERE e.project_id = ?
ORDER BY e.name"
);

/// Counts per environment and day; the days without any are filled in Rust. Binds: the
/// window three times (deployments, failed deployments, rollbacks). A rolled-back release
/// is a failure of the day its rollback was deployed.
const DAILY: &str = concat!(
    "
SELECT environment_id, 'deployed' AS kind, DATE(deployed_at) AS day, COUNT(*) AS n
FROM releases
WHERE project_id = ? AND status = 'deployed' AND deployed_at >= ? AND deployed_at < ?
GROUP BY environment_id, DATE(deployed_at)
UNION ALL
SELECT environment_id, 'failed' AS kind, DATE(finished_at) AS day, COUNT(*) AS n
FROM releases
WHERE project_id = ? AND status = 'failed' AND sleakops_deployment_id IS NOT NULL
  AND finished_at >= ? AND finished_at < ?
GROUP BY environment_id, DATE(finished_at)
UNION ALL
SELECT environment_id, 'failed' AS kind, DATE(restored_at) AS day, COUNT(*) AS n
FROM (",
    rolled_back!(),
    ") rolled_back
GROUP BY environment_id, DATE(restored_at)"
);

/// One environment's figures over a window.
#[derive(Debug, sqlx::FromRow)]
pub struct Figures {
    pub id: u64,
    pub name: String,
    pub production: bool,
    pub deployments: i64,
    pub failed_deployments: i64,
    /// Of `failed_deployments`, the deployed releases a rollback replaced.
    pub rolled_back: i64,
    pub lead_median: Option<i64>,
    pub lead_p90: Option<i64>,
    pub restore_median: Option<i64>,
    pub approval_median: Option<i64>,
}

/// What the delivery metrics cover: a project's releases over `[start, end)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub project_id: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// `query` with the window bound for each of its `parts`.
    fn bind_parts<'q, O>(
        self,
        mut query: QueryAs<'q, MySql, O, MySqlArguments>,
        parts: usize,
    ) -> QueryAs<'q, MySql, O, MySqlArguments> {
        for _ in 0..parts {
            query = query.bind(self.project_id).bind(self.start).bind(self.end);
        }
        query
    }
}

/// Every environment of the project with its figures over the window, by name.
pub async fn figures(db: &MySqlPool, window: Window) -> Result<Vec<Figures>, sqlx::Error> {
    let query = window.bind_parts(sqlx::query_as(FIGURES), 4);
    query.bind(window.project_id).fetch_all(db).await
}

/// Deployments or failures (`kind`) of one environment on one day.
#[derive(Debug, sqlx::FromRow)]
pub struct DailyCount {
    pub environment_id: u64,
    pub kind: String,
    pub day: NaiveDate,
    pub n: i64,
}

/// The days of the window with any deployment or failure.
pub async fn daily_counts(db: &MySqlPool, window: Window) -> Result<Vec<DailyCount>, sqlx::Error> {
    let query = window.bind_parts(sqlx::query_as(DAILY), 3);
    query.fetch_all(db).await
}

/// What decides who may release to an environment (see [`super::approval::require_to_release`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ReleaseRule {
    /// Only owners release there, unless it requires approval.
    pub production: bool,
    /// A release there waits for a second person's approval.
    pub requires_approval: bool,
}

/// Environment `environment_id`'s [`ReleaseRule`], under a shared lock held until commit: a
/// concurrent change of either flag waits or is seen.
pub async fn release_rule(
    tx: &mut MySqlConnection,
    environment_id: u64,
) -> Result<ReleaseRule, sqlx::Error> {
    let rule: Option<ReleaseRule> = sqlx::query_as(
        "SELECT production, requires_approval FROM environments WHERE id = ? LOCK IN SHARE MODE",
    )
    .bind(environment_id)
    .fetch_optional(tx)
    .await?;
    Ok(rule.unwrap_or_default())
}

/// A release waiting for approval, as its decision needs it (read under the row's lock).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub status: ReleaseStatus,
    pub requested_by: u64,
    pub requested_at: DateTime<Utc>,
    pub approval_expires_at: Option<DateTime<Utc>>,
}

pub async fn waiting(tx: &mut MySqlConnection, id: u64) -> Result<Option<Waiting>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, requested_by, requested_at, approval_expires_at FROM releases \
         WHERE id = ? FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// A decision on a release awaiting approval, written in the caller's transaction (which
/// holds the row's lock).
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    /// Queued, and its outbox row due now and unclaimed: any worker takes it at once.
    Approved,
    /// Final, with the reason; its outbox row is done.
    Rejected { reason: &'a str },
    /// Nobody decided in time: final; its outbox row is done.
    Expired,
}

impl Decision<'_> {
    pub fn status(&self) -> ReleaseStatus {
        match self {
            Self::Approved => ReleaseStatus::Queued,
            Self::Rejected { .. } => ReleaseStatus::Rejected,
            Self::Expired => ReleaseStatus::Expired,
        }
    }
}

/// Writes `decision` by `by` (none for expiry) at `now`, if the release still awaits
/// approval: the number of its timeline event, or `None` when it no longer does.
pub async fn decide(
    tx: &mut MySqlConnection,
    id: u64,
    decision: Decision<'_>,
    by: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let (reason, finished) = match decision {
        Decision::Approved => (None, None),
        Decision::Rejected { reason } => (Some(reason), Some(now)),
        Decision::Expired => (None, Some(now)),
    };
    let decided_at = by.map(|_| now);
    let done = sqlx::query(concat!(
        "UPDATE releases SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?, \
         finished_at = ?, updated_at = ?, ",
        super::timeline::next_seq_sql!(),
        " WHERE id = ? AND status = 'awaiting_approval'"
    ))
    .bind(decision.status())
    .bind(by)
    .bind(decided_at)
    .bind(reason)
    .bind(finished)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let seq = done.last_insert_id();
    let outbox = match decision {
        Decision::Approved => sqlx::query(
            "UPDATE outbox SET next_attempt_at = ?, claimed_by = NULL, attempts = 0, \
             last_error = NULL, updated_at = ? WHERE release_id = ? AND done = FALSE",
        )
        .bind(now),
        Decision::Rejected { .. } | Decision::Expired => sqlx::query(
            "UPDATE outbox SET done = TRUE, claimed_by = NULL, updated_at = ? \
             WHERE release_id = ? AND done = FALSE",
        ),
    };
    outbox.bind(now).bind(id).execute(&mut *tx).await?;
    Ok(Some(seq))
}

/// The environment release `id` goes to.
pub async fn environment_of(
    db: impl MySqlExecutor<'_>,
    id: u64,
) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT environment_id FROM releases WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
}
