//! `sleakops_keys` and `encryption_keys`: every statement of sealing.

use super::Sealed;
use crate::db::Read;
use chrono::{DateTime, Utc};
use sqlx::{MySqlConnection, MySqlExecutor};

type Row = (String, Vec<u8>, Vec<u8>);

fn sealed((key_id, nonce, ciphertext): Row) -> Result<Sealed, sqlx::Error> {
    let nonce = nonce.try_into().map_err(|nonce: Vec<u8>| {
        sqlx::Error::Decode(format!("a nonce of {} bytes, not 12", nonce.len()).into())
    })?;
    Ok(Sealed {
        key_id,
        nonce,
        ciphertext,
    })
}

async fn read(
    db: impl MySqlExecutor<'_>,
    org_id: u64,
    read: Read,
) -> Result<Option<Sealed>, sqlx::Error> {
    let select = read.sql("SELECT key_id, nonce, ciphertext FROM sleakops_keys WHERE org_id = ?");
    sqlx::query_as::<_, Row>(&select)
        .bind(org_id)
        .fetch_optional(db)
        .await?
        .map(sealed)
        .transpose()
}

/// Organization `org_id`'s sealed SleakOps key, if it has one.
pub async fn sealed_key(
    db: impl MySqlExecutor<'_>,
    org_id: u64,
) -> Result<Option<Sealed>, sqlx::Error> {
    read(db, org_id, Read::Plain).await
}

/// The same, locked until `tx` ends.
pub async fn sealed_key_for_update(
    tx: &mut MySqlConnection,
    org_id: u64,
) -> Result<Option<Sealed>, sqlx::Error> {
    read(tx, org_id, Read::ForUpdate).await
}

/// Sets (or replaces) organization `org_id`'s key; `last4` is what the UI shows of it.
pub async fn store_key(
    tx: &mut MySqlConnection,
    org_id: u64,
    sealed: &Sealed,
    last4: &str,
    set_by: u64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sleakops_keys (org_id, key_id, nonce, ciphertext, last4, set_by, set_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE key_id = VALUES(key_id), nonce = VALUES(nonce), \
         ciphertext = VALUES(ciphertext), last4 = VALUES(last4), set_by = VALUES(set_by), \
         set_at = VALUES(set_at)",
    )
    .bind(org_id)
    .bind(&sealed.key_id)
    .bind(sealed.nonce.as_slice())
    .bind(&sealed.ciphertext)
    .bind(last4)
    .bind(set_by)
    .bind(now)
    .execute(tx)
    .await
    .map(drop)
}

/// Re-seals a row in place: who set the key and when stay as they were.
pub async fn replace_sealed(
    tx: &mut MySqlConnection,
    org_id: u64,
    sealed: &Sealed,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sleakops_keys SET key_id = ?, nonce = ?, ciphertext = ? WHERE org_id = ?")
        .bind(&sealed.key_id)
        .bind(sealed.nonce.as_slice())
        .bind(&sealed.ciphertext)
        .bind(org_id)
        .execute(tx)
        .await
        .map(drop)
}

/// Removes organization `org_id`'s key; whether it had one.
pub async fn delete_key(tx: &mut MySqlConnection, org_id: u64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sleakops_keys WHERE org_id = ?")
        .bind(org_id)
        .execute(tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Every organization with a key, and the id of the KEK that sealed it.
pub async fn sealed_orgs(db: impl MySqlExecutor<'_>) -> Result<Vec<(u64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT org_id, key_id FROM sleakops_keys ORDER BY org_id")
        .fetch_all(db)
        .await
}

/// How many keys each KEK sealed, by KEK id.
pub async fn key_ids_in_use(db: impl MySqlExecutor<'_>) -> Result<Vec<(String, u64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT key_id, COUNT(*) FROM sleakops_keys GROUP BY key_id ORDER BY key_id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, n.unsigned_abs()))
        .collect())
}

/// The check value kept for KEK `key_id`, if any.
pub async fn check_value(
    db: impl MySqlExecutor<'_>,
    key_id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT check_value FROM encryption_keys WHERE key_id = ?")
        .bind(key_id)
        .fetch_optional(db)
        .await
}

/// Keeps `value` as KEK `key_id`'s check value, unless a task starting at the same time
/// already did (both are check values of the same key).
pub async fn insert_check_value(
    db: impl MySqlExecutor<'_>,
    key_id: &str,
    value: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO encryption_keys (key_id, check_value, created_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE key_id = key_id",
    )
    .bind(key_id)
    .bind(value)
    .bind(now)
    .execute(db)
    .await
    .map(drop)
}
