//! The worker's queries on the outbox.
//!
//! A claim is a lease: [`claim`] takes due rows with `SELECT … FOR UPDATE SKIP LOCKED` (so
//! tasks racing for work each get different rows), stamps them with a claim token and moves
//! `next_attempt_at` one lease ahead, and commits at once: the SleakOps calls happen outside
//! any row lock. While working, [`renew`] keeps moving `next_attempt_at` ahead; a task that
//! dies stops renewing and the row becomes due for another. Every write after the claim is
//! guarded by the token, so a worker whose lease was taken over (or whose release was
//! cancelled, which marks the row done) can no longer change the row.
//!
//! Lock order: these statements lock outbox rows only, or (in the worker's release
//! transitions) the release row first and its outbox row second, as cancelling does.

use crate::db;
use chrono::{DateTime, Utc};
use sqlx::{MySqlConnection, MySqlPool};
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

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

/// Claims up to `limit` due rows for `worker_id`, for one lease.
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
    .bind(crate::releases::store::OUTBOX_START)
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
    let ids: Vec<String> = rows.iter().map(|(id, _, _)| id.to_string()).collect();
    // The ids are integers read from the table, so inlining them is safe.
    sqlx::query(&format!(
        "UPDATE outbox SET claimed_by = ?, next_attempt_at = ?, updated_at = ? WHERE id IN ({})",
        ids.join(",")
    ))
    .bind(&token)
    .bind(later(now, lease))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // A row without a release has nothing to do.
    for (id, release, _) in &rows {
        if release.is_none() {
            sqlx::query("UPDATE outbox SET done = TRUE, claimed_by = NULL WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|(outbox_id, release_id, attempts)| {
            Some(Claim {
                outbox_id,
                release_id: release_id?,
                attempts,
                token: token.clone(),
            })
        })
        .collect())
}

/// Extends the lease; `false` when the claim is gone (taken over, or the row is done).
pub async fn renew(pool: &MySqlPool, claim: &Claim, lease: Duration) -> Result<bool, sqlx::Error> {
    let now = db::now();
    let renewed = sqlx::query(
        "UPDATE outbox SET next_attempt_at = ?, updated_at = ? \
         WHERE id = ? AND claimed_by = ? AND done = FALSE",
    )
    .bind(later(now, lease))
    .bind(now)
    .bind(claim.outbox_id)
    .bind(&claim.token)
    .execute(pool)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Gives the row back, due after `delay` (a stopping worker hands it on at once).
pub async fn release(pool: &MySqlPool, claim: &Claim, delay: Duration) -> Result<(), sqlx::Error> {
    let now = db::now();
    sqlx::query(
        "UPDATE outbox SET claimed_by = NULL, next_attempt_at = ?, updated_at = ? \
         WHERE id = ? AND claimed_by = ? AND done = FALSE",
    )
    .bind(later(now, delay))
    .bind(now)
    .bind(claim.outbox_id)
    .bind(&claim.token)
    .execute(pool)
    .await?;
    Ok(())
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

/// Marks the row done, in the caller's transaction (after it locked the release row).
pub async fn done(tx: &mut MySqlConnection, claim: &Claim) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET done = TRUE, claimed_by = NULL, last_error = NULL, updated_at = ? \
         WHERE id = ?",
    )
    .bind(db::now())
    .bind(claim.outbox_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Forgets earlier failures once the release made progress, in the caller's transaction.
pub async fn progressed(tx: &mut MySqlConnection, claim: &Claim) -> Result<(), sqlx::Error> {
    if claim.attempts == 0 {
        // Claimed without failures, and a failure ends the claim: nothing to forget.
        return Ok(());
    }
    sqlx::query(
        "UPDATE outbox SET attempts = 0, last_error = NULL, updated_at = ? \
         WHERE id = ? AND claimed_by = ?",
    )
    .bind(db::now())
    .bind(claim.outbox_id)
    .bind(&claim.token)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records a failed attempt and hands the row back, due after `delay`, in the caller's
/// transaction.
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
