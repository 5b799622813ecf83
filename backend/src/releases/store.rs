//! Releases in MySQL: the row as the API shows it, and the writes every flow shares.

use chrono::{DateTime, Utc};
use faro_types::{Release, ReleaseStatus, UserRef};
use sqlx::{MySqlConnection, MySqlPool, Row, mysql::MySqlRow};

/// The columns [`from_row`] reads, from `releases r` and the tables it names.
const COLUMNS: &str = "r.id, r.project_id, p.slug, e.name AS environment, e.production, \
     r.branch, r.commit_sha, r.tag, r.commit_time, r.status, r.sleakops_build_id, \
     r.sleakops_deployment_id, r.requested_by, u.display_name AS requested_by_name, \
     r.requested_at, r.started_at, r.deployed_at, r.finished_at, r.failure_reason, r.notes, \
     r.retry_of";

/// The tiny tables by primary key, whatever their size: left to itself, the optimizer scans
/// them into a join buffer, which loses the releases' index order and sorts the result.
const JOINS: &str = "JOIN projects p ON p.id = r.project_id \
     JOIN environments e FORCE INDEX (PRIMARY) ON e.id = r.environment_id \
     JOIN users u FORCE INDEX (PRIMARY) ON u.id = r.requested_by";

/// Full rows of the newest releases (`LIMIT ?`) of the project with slug `?` whose member is
/// user `?`, read backwards along `index` (which must start with the project id and the
/// equalities of `conditions`, and end with the id). With `by_environment` the environment
/// of name `?` is joined as `fe` for `conditions` to use. Parameters: the user, the
/// environment's name, the slug, then those of `conditions`, then the limit.
///
/// The join order and the index are fixed: project, membership (and environment) are single
/// rows by unique key, so the page is the first rows of one index range joined by primary
/// key. Left to itself the optimizer reads the tiny tables into a join buffer or merges two
/// indexes, and either way reads and sorts every release of the project; its range
/// estimates on four candidate indexes also cost more than the query (measured with
/// `ANALYZE`: 0.43 ms and 0.37 ms of optimization before, a quarter of that after).
pub fn select_member_page(index: &str, by_environment: bool, conditions: &str) -> String {
    let environment = if by_environment {
        "JOIN environments fe ON fe.project_id = p.id AND fe.name = ?"
    } else {
        ""
    };
    format!(
        "SELECT STRAIGHT_JOIN {COLUMNS} FROM projects p \
         JOIN memberships m ON m.project_id = p.id AND m.user_id = ? {environment} \
         JOIN releases r FORCE INDEX ({index}) ON r.project_id = p.id \
         JOIN environments e FORCE INDEX (PRIMARY) ON e.id = r.environment_id \
         JOIN users u FORCE INDEX (PRIMARY) ON u.id = r.requested_by \
         WHERE p.slug = ?{conditions} ORDER BY r.id DESC LIMIT ?"
    )
}

/// Full rows, newest first, of the release ids `ids` selects (a `SELECT id FROM releases …
/// ORDER BY id DESC LIMIT ?` subquery): for pages merged from several index ranges.
pub fn select_ids(ids: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM ({ids}) k JOIN releases r ON r.id = k.id {JOINS} ORDER BY r.id DESC"
    )
}

pub fn status_of(value: &str) -> Result<ReleaseStatus, sqlx::Error> {
    ReleaseStatus::parse(value).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "status".into(),
        source: format!("unknown release status {value:?}").into(),
    })
}

pub fn from_row(row: &MySqlRow) -> Result<Release, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Release {
        id: row.try_get("id")?,
        project: row.try_get("slug")?,
        environment: row.try_get("environment")?,
        production: row.try_get("production")?,
        branch: row.try_get("branch")?,
        commit_sha: row.try_get("commit_sha")?,
        tag: row.try_get("tag")?,
        commit_time: row.try_get("commit_time")?,
        status: status_of(&status)?,
        sleakops_build_id: row.try_get("sleakops_build_id")?,
        sleakops_deployment_id: row.try_get("sleakops_deployment_id")?,
        requested_by: UserRef {
            id: row.try_get("requested_by")?,
            name: row.try_get("requested_by_name")?,
        },
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        deployed_at: row.try_get("deployed_at")?,
        finished_at: row.try_get("finished_at")?,
        failure_reason: row.try_get("failure_reason")?,
        notes: row.try_get("notes")?,
        retry_of: row.try_get("retry_of")?,
    })
}

/// One release with its project's id (for the caller's authorization), or `None`.
pub async fn find(db: &MySqlPool, id: u64) -> Result<Option<(u64, Release)>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM releases r {JOINS} WHERE r.id = ?"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(|row| Ok((row.try_get("project_id")?, from_row(&row)?)))
        .transpose()
}

/// The fields of a release a request decides; the rest starts empty.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub project_id: u64,
    pub environment_id: u64,
    pub branch: String,
    pub commit_sha: String,
    pub tag: Option<String>,
    pub commit_time: Option<DateTime<Utc>>,
    pub requested_by: u64,
    pub requested_at: DateTime<Utc>,
    pub retry_of: Option<u64>,
}

/// Inserts a queued release whose first timeline event (seq 1) the caller writes, and the
/// outbox row that hands it to the release worker, in the caller's transaction. A second
/// release for the same `idempotency_key` (its hash) of the same user is a unique violation.
pub async fn insert(
    tx: &mut MySqlConnection,
    new: &NewRelease,
    idempotency_key: &str,
) -> Result<u64, sqlx::Error> {
    let id = sqlx::query(
        "INSERT INTO releases (project_id, environment_id, branch, commit_sha, tag, commit_time, \
         status, requested_by, requested_at, retry_of, idempotency_key, event_seq, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, 1, ?)",
    )
    .bind(new.project_id)
    .bind(new.environment_id)
    .bind(&new.branch)
    .bind(&new.commit_sha)
    .bind(&new.tag)
    .bind(new.commit_time)
    .bind(new.requested_by)
    .bind(new.requested_at)
    .bind(new.retry_of)
    .bind(idempotency_key)
    .bind(new.requested_at)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    let payload = serde_json::json!({ "release_id": id }).to_string();
    sqlx::query(
        "INSERT INTO outbox (kind, release_id, payload, next_attempt_at, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(OUTBOX_START)
    .bind(id)
    .bind(payload)
    .bind(new.requested_at)
    .bind(new.requested_at)
    .bind(new.requested_at)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// The outbox kind that asks the release worker to build and deploy a release; its payload
/// is `{"release_id": <id>}`.
pub const OUTBOX_START: &str = "release.start";

/// A release's status and last timeline sequence number, locked for the caller's
/// transaction.
pub async fn lock(
    tx: &mut MySqlConnection,
    id: u64,
) -> Result<Option<(ReleaseStatus, u64)>, sqlx::Error> {
    let row: Option<(String, u32)> =
        sqlx::query_as("SELECT status, event_seq FROM releases WHERE id = ? FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    row.map(|(status, seq)| Ok((status_of(&status)?, seq.into())))
        .transpose()
}

/// A release's status and last timeline sequence number, unlocked (streams use it to know
/// when they are done).
pub async fn progress(
    db: &MySqlPool,
    id: u64,
) -> Result<Option<(ReleaseStatus, u64)>, sqlx::Error> {
    let row: Option<(String, u32)> =
        sqlx::query_as("SELECT status, event_seq FROM releases WHERE id = ?")
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(|(status, seq)| Ok((status_of(&status)?, seq.into())))
        .transpose()
}
