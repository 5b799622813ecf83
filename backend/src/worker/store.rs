//! Every SQL statement of the worker: the release as the job reads and changes it, and the
//! outbox it takes its work from.
//!
//! A claim is a lease: [`claim`] takes due outbox rows with `SELECT … FOR UPDATE SKIP LOCKED`
//! (so tasks racing for work each get different rows), stamps them with a claim token and
//! moves `next_attempt_at` one lease ahead, and commits at once: the SleakOps calls happen
//! outside any row lock. While working, [`renew`] keeps moving `next_attempt_at` ahead; a
//! task that dies stops renewing and the row becomes due for another. Every write after the
//! claim is guarded by the token, so a worker whose lease was taken over (or whose release
//! was cancelled, which marks the row done) can no longer change the row.
//!
//! Every change of the release is an `UPDATE … WHERE status = <expected>` that also hands out
//! its timeline event's number ([`timeline::next_seq_sql`]), so a cancel that got there first
//! is never overwritten. Lock order: the release row first and its outbox row second, as
//! cancelling does.

use super::machine::{Change, OutboxWrite, Release, Trigger};
use crate::{
    db,
    releases::{store::OUTBOX_START, timeline},
};
use chrono::{DateTime, Utc};
use faro_sleakops::ResourceId;
use faro_types::ReleaseStatus;
use sqlx::{
    Encode, MySql, MySqlConnection, MySqlExecutor, MySqlPool, Type,
    mysql::{MySqlArguments, MySqlQueryResult},
    query::Query,
};
use std::time::Duration;

/// One claimed outbox row.
#[derive(Debug, Clone)]
pub struct Claim {
    pub outbox_id: u64,
    pub release_id: u64,
    /// Failed attempts so far (reset when the release makes progress).
    pub attempts: u32,
    pub token: String,
}

#[derive(sqlx::FromRow)]
struct ReleaseRow {
    status: ReleaseStatus,
    branch: String,
    commit_sha: Option<String>,
    tag: Option<String>,
    sleakops_build_id: Option<String>,
    sleakops_deployment_id: Option<String>,
    build_requested_at: Option<DateTime<Utc>>,
    built_at: Option<DateTime<Utc>>,
    deployment_requested_at: Option<DateTime<Utc>>,
    sleakops_project: String,
    sleakops_environment: String,
    environment: String,
    requested_at: DateTime<Utc>,
    approval_expires_at: Option<DateTime<Utc>>,
    build_of: Option<u64>,
}

impl TryFrom<ReleaseRow> for Release {
    type Error = sqlx::Error;

    fn try_from(row: ReleaseRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            status: row.status,
            branch: row.branch,
            commit_sha: row.commit_sha,
            tag: row.tag,
            build: row.sleakops_build_id.map(ResourceId::new),
            deployment: row.sleakops_deployment_id.map(ResourceId::new),
            build_requested_at: row.build_requested_at,
            built_at: row.built_at,
            deployment_requested_at: row.deployment_requested_at,
            sleakops_project: row.sleakops_project,
            sleakops_environment: row.sleakops_environment,
            environment: row.environment,
            requested_at: row.requested_at,
            approval_expires_at: row.approval_expires_at,
            build_of: row.build_of,
        })
    }
}

/// The release with its project's and environment's SleakOps names; `None` once deleted.
pub async fn load(pool: &MySqlPool, release_id: u64) -> Result<Option<Release>, sqlx::Error> {
    let row: Option<ReleaseRow> = sqlx::query_as(
        "SELECT r.status, r.branch, r.commit_sha, r.tag, r.sleakops_build_id, \
         r.sleakops_deployment_id, r.build_requested_at, r.built_at, \
         r.deployment_requested_at, p.sleakops_project, e.sleakops_environment, \
         e.name AS environment, r.requested_at, r.approval_expires_at, r.build_of \
         FROM releases r JOIN projects p ON p.id = r.project_id \
         JOIN environments e ON e.id = r.environment_id WHERE r.id = ?",
    )
    .bind(release_id)
    .fetch_optional(pool)
    .await?;
    row.map(Release::try_from).transpose()
}

/// The organization whose SleakOps key release `release_id` is sent with.
pub async fn org_of(pool: &MySqlPool, release_id: u64) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT p.org_id FROM releases r JOIN projects p ON p.id = r.project_id WHERE r.id = ?",
    )
    .bind(release_id)
    .fetch_optional(pool)
    .await
}

/// Writes `trigger`'s mark at `at`, if the release is ready for the trigger and it was never
/// sent; whether it was written.
pub async fn mark(
    pool: &MySqlPool,
    release_id: u64,
    trigger: &Trigger,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = match trigger {
        Trigger::Build => {
            "UPDATE releases SET build_requested_at = ?, updated_at = ? \
             WHERE id = ? AND status = ? \
             AND build_requested_at IS NULL AND sleakops_build_id IS NULL"
        }
        Trigger::Deployment { .. } => {
            "UPDATE releases SET deployment_requested_at = ?, updated_at = ? \
             WHERE id = ? AND status = ? AND built_at IS NOT NULL \
             AND deployment_requested_at IS NULL AND sleakops_deployment_id IS NULL"
        }
    };
    let marked = sqlx::query(sql)
        .bind(at)
        .bind(at)
        .bind(release_id)
        .bind(trigger.from().as_str())
        .execute(pool)
        .await?;
    Ok(marked.rows_affected() == 1)
}

/// Clears the mark of `trigger` this job wrote at `at` (nothing was sent, or SleakOps
/// certainly did not act on it), unless it has started; a mark another job wrote since stays.
pub async fn unmark(
    pool: &MySqlPool,
    release_id: u64,
    trigger: &Trigger,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = match trigger {
        Trigger::Build => {
            "UPDATE releases SET build_requested_at = NULL, updated_at = ? \
             WHERE id = ? AND build_requested_at = ? AND sleakops_build_id IS NULL"
        }
        Trigger::Deployment { .. } => {
            "UPDATE releases SET deployment_requested_at = NULL, updated_at = ? \
             WHERE id = ? AND deployment_requested_at = ? AND sleakops_deployment_id IS NULL"
        }
    };
    sqlx::query(sql)
        .bind(db::now())
        .bind(release_id)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Saves the id of what `trigger` started, on its own and at once: whatever fails next
/// (DynamoDB, the transaction that moves the release on), the next job finds the id and
/// follows it instead of a mark it cannot explain ([`super::machine::Step::Record`]). Kept
/// on a release that changed meanwhile too (cancelled), for the record.
pub async fn save_id(
    pool: &MySqlPool,
    release_id: u64,
    trigger: &Trigger,
    id: &ResourceId,
) -> Result<(), sqlx::Error> {
    let sql = match trigger {
        Trigger::Build => {
            "UPDATE releases SET sleakops_build_id = ? \
             WHERE id = ? AND sleakops_build_id IS NULL"
        }
        Trigger::Deployment { .. } => {
            "UPDATE releases SET sleakops_deployment_id = ? \
             WHERE id = ? AND sleakops_deployment_id IS NULL"
        }
    };
    sqlx::query(sql)
        .bind(id.as_str())
        .bind(release_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// An UPDATE that moves a release to another status, setting `$set` (one value, then the
/// time) and `updated_at`; binds as [`moving`] and then the release and its expected status.
macro_rules! moves_to {
    ($set:literal) => {
        concat!(
            "UPDATE releases SET status = ?, ",
            $set,
            ", updated_at = ?, ",
            timeline::next_seq_sql!(),
            " WHERE id = ? AND status = ?"
        )
    };
}

/// A `moves_to!` statement with the new status `to`, the change's `value`, and `now` for
/// the change's time and `updated_at`.
fn moving<'q>(
    sql: &'q str,
    to: &'q str,
    value: impl 'q + Encode<'q, MySql> + Type<MySql>,
    now: DateTime<Utc>,
) -> Query<'q, MySql, MySqlArguments> {
    sqlx::query(sql).bind(to).bind(value).bind(now).bind(now)
}

/// Writes `change` at `now` in the caller's transaction, if the release is still where the
/// change expects it: the number of the change's timeline event, or `None` when it is not
/// (the release row is locked either way).
pub async fn apply(
    tx: &mut MySqlConnection,
    release_id: u64,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let to = change.to().as_str();
    // Each statement binds its own values first, then the release and its expected status.
    let query = match change {
        Change::Started { trigger, id } => {
            let sql = match trigger {
                Trigger::Build => {
                    moves_to!("sleakops_build_id = ?, started_at = COALESCE(started_at, ?)")
                }
                Trigger::Deployment { .. } => {
                    moves_to!("sleakops_deployment_id = ?, started_at = COALESCE(started_at, ?)")
                }
            };
            moving(sql, to, id.as_str(), now)
        }
        // `built_at IS NULL`: of two jobs that both saw the build succeed, one tells it.
        // The commit SleakOps built is recorded only for a release of a branch head: a
        // commit the user gave is never overwritten.
        Change::Built { commit, .. } => sqlx::query(concat!(
            "UPDATE releases SET built_at = ?, updated_at = ?, \
             commit_sha = COALESCE(commit_sha, ?), ",
            timeline::next_seq_sql!(),
            " WHERE id = ? AND status = ? AND built_at IS NULL"
        ))
        .bind(now)
        .bind(now)
        .bind(commit.as_deref()),
        Change::Deployed { .. } => {
            moving(moves_to!("deployed_at = ?, finished_at = ?"), to, now, now)
        }
        // Any unfinished status can fail, or need a person; `from` is the one the job last
        // saw.
        Change::Failed { reason, .. } | Change::NeedsAttention { reason, .. } => moving(
            moves_to!("failure_reason = ?, finished_at = ?"),
            to,
            reason.as_str(),
            now,
        ),
        Change::Expired => sqlx::query(concat!(
            "UPDATE releases SET status = ?, finished_at = ?, updated_at = ?, ",
            timeline::next_seq_sql!(),
            " WHERE id = ? AND status = ?"
        ))
        .bind(to)
        .bind(now)
        .bind(now),
        Change::Noted { .. } => sqlx::query(concat!(
            "UPDATE releases SET ",
            timeline::next_seq_sql!(),
            " WHERE id = ? AND status = ?"
        )),
    };
    let done = query
        .bind(release_id)
        .bind(change.from().as_str())
        .execute(&mut *tx)
        .await?;
    Ok(numbered(&done))
}

/// The event number an UPDATE setting [`timeline::next_seq_sql`] handed out, if it applied.
fn numbered(done: &MySqlQueryResult) -> Option<u64> {
    (done.rows_affected() == 1).then(|| done.last_insert_id())
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

/// Claims up to `limit` due outbox rows for `worker_id`, for one lease.
pub async fn claim(
    pool: &MySqlPool,
    worker_id: &str,
    limit: u32,
    lease: Duration,
) -> Result<Vec<Claim>, sqlx::Error> {
    let now = db::now();
    let mut tx = pool.begin().await?;
    let rows: Vec<(u64, Option<u64>, u32)> = sqlx::query_as(
        "SELECT id, release_id, attempts FROM outbox \
         WHERE done = FALSE AND next_attempt_at <= ? AND kind = ? \
         ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(OUTBOX_START)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let token = format!(
        "{worker_id}/{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let mut claims = Vec::with_capacity(rows.len());
    for (outbox_id, release_id, attempts) in rows {
        let Some(release_id) = release_id else {
            // A row without a release has nothing to do.
            sqlx::query(
                "UPDATE outbox SET done = TRUE, claimed_by = NULL, updated_at = ? WHERE id = ?",
            )
            .bind(now)
            .bind(outbox_id)
            .execute(&mut *tx)
            .await?;
            continue;
        };
        sqlx::query(
            "UPDATE outbox SET claimed_by = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&token)
        .bind(later(now, lease))
        .bind(now)
        .bind(outbox_id)
        .execute(&mut *tx)
        .await?;
        claims.push(Claim {
            outbox_id,
            release_id,
            attempts,
            token: token.clone(),
        });
    }
    tx.commit().await?;
    Ok(claims)
}

/// Who holds a claimed row from now on.
enum Holder {
    /// This worker, for one more lease.
    Same,
    /// Whoever claims it once it is due.
    Nobody,
}

/// Makes a claimed row due after `delay`, held by `holder`; `false` when the claim is gone
/// (taken over, or the row is done).
async fn hand_on(
    pool: &MySqlPool,
    claim: &Claim,
    delay: Duration,
    holder: Holder,
) -> Result<bool, sqlx::Error> {
    let now = db::now();
    let sql = match holder {
        Holder::Same => {
            "UPDATE outbox SET next_attempt_at = ?, updated_at = ? \
             WHERE id = ? AND claimed_by = ? AND done = FALSE"
        }
        Holder::Nobody => {
            "UPDATE outbox SET claimed_by = NULL, next_attempt_at = ?, updated_at = ? \
             WHERE id = ? AND claimed_by = ? AND done = FALSE"
        }
    };
    let handed = sqlx::query(sql)
        .bind(later(now, delay))
        .bind(now)
        .bind(claim.outbox_id)
        .bind(&claim.token)
        .execute(pool)
        .await?;
    Ok(handed.rows_affected() == 1)
}

/// Extends the lease; `false` when the claim is gone (taken over, or the row is done).
pub async fn renew(pool: &MySqlPool, claim: &Claim, lease: Duration) -> Result<bool, sqlx::Error> {
    hand_on(pool, claim, lease, Holder::Same).await
}

/// Gives the row back, due after `delay` (a stopping worker hands it on at once).
pub async fn release(pool: &MySqlPool, claim: &Claim, delay: Duration) -> Result<(), sqlx::Error> {
    hand_on(pool, claim, delay, Holder::Nobody).await.map(drop)
}

/// Gives back every row `worker_id` still holds (the end of a graceful shutdown).
pub async fn release_all(pool: &MySqlPool, worker_id: &str) -> Result<u64, sqlx::Error> {
    let now = db::now();
    let released = sqlx::query(
        "UPDATE outbox SET claimed_by = NULL, next_attempt_at = ?, updated_at = ? \
         WHERE claimed_by LIKE ? AND done = FALSE",
    )
    .bind(now)
    .bind(now)
    .bind(format!("{worker_id}/%"))
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}

/// Writes what a change of the release does to its outbox row (in the change's transaction,
/// after the release row was locked).
pub async fn settle<'c>(
    conn: impl MySqlExecutor<'c>,
    claim: &Claim,
    write: OutboxWrite,
) -> Result<(), sqlx::Error> {
    match write {
        OutboxWrite::Done => {
            sqlx::query(
                "UPDATE outbox SET done = TRUE, claimed_by = NULL, last_error = NULL, \
                 updated_at = ? WHERE id = ?",
            )
            .bind(db::now())
            .bind(claim.outbox_id)
            .execute(conn)
            .await?;
        }
        // Claimed without failures, and a failure ends the claim: nothing to forget.
        OutboxWrite::Progressed if claim.attempts == 0 => {}
        OutboxWrite::Progressed => {
            sqlx::query(
                "UPDATE outbox SET attempts = 0, last_error = NULL, updated_at = ? \
                 WHERE id = ? AND claimed_by = ?",
            )
            .bind(db::now())
            .bind(claim.outbox_id)
            .bind(&claim.token)
            .execute(conn)
            .await?;
        }
        OutboxWrite::Nothing => {}
    }
    Ok(())
}

/// Records failed attempt number `attempts` and hands the row back, due after `delay`, in
/// the caller's transaction.
pub async fn reschedule(
    tx: &mut MySqlConnection,
    claim: &Claim,
    attempts: u32,
    delay: Duration,
    error: &str,
) -> Result<(), sqlx::Error> {
    let now = db::now();
    sqlx::query(
        "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_by = NULL, \
         updated_at = ? WHERE id = ? AND claimed_by = ? AND done = FALSE",
    )
    .bind(attempts)
    .bind(later(now, delay))
    .bind(error)
    .bind(now)
    .bind(claim.outbox_id)
    .bind(&claim.token)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Age of the oldest release still waiting for its build to be triggered.
pub async fn outbox_lag(pool: &MySqlPool) -> Result<Duration, sqlx::Error> {
    let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT MIN(o.created_at) FROM outbox o JOIN releases r ON r.id = o.release_id \
         WHERE o.done = FALSE AND r.status = ?",
    )
    .bind(ReleaseStatus::Queued.as_str())
    .fetch_one(pool)
    .await?;
    Ok(oldest
        .and_then(|at| (db::now() - at).to_std().ok())
        .unwrap_or_default())
}
