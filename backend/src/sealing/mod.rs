//! Organizations' SleakOps keys sealed at rest under a key-encryption key (KEK) that lives
//! outside the database (`FARO_ENCRYPTION_KEY`), so a copy of the database alone (a snapshot,
//! a backup, a leaked dump) yields no credential.
//!
//! - The KEK's value is text (see [`check_format`]); the AES-256 key is HKDF-SHA256 of it, so
//!   a secret Secrets Manager generates works as it is and so does `openssl rand -base64 32`.
//! - Its id is the first 16 hex digits of SHA-256(`faro-kek-v1` ‖ derived key): a row records
//!   the id of the key that sealed it, and telling ids apart needs no key.
//! - Sealing is AES-256-GCM with a fresh random 96-bit nonce per write and the organization id
//!   (decimal) as associated data, so a sealed value copied to another organization's row does
//!   not open.
//! - `FARO_ENCRYPTION_KEY_PREVIOUS` opens what the key before it sealed, during a rotation;
//!   `faro-backend rekey` ([`rekey`]) re-seals everything under the current key.
//! - [`check_keys`] runs at start-up: a KEK that is not the one the database's values were
//!   sealed with stops the process before it serves anything.

mod kek;
mod rekey;
pub mod store;

pub use kek::{KeyRing, check_format};
pub use rekey::{RekeyReport, rekey};
pub use store::{delete_key, sealed_key, store_key};

use faro_config_vars as var;
use sqlx::MySqlPool;
use std::fmt;

/// A value sealed under the KEK `key_id` names: what a `sleakops_keys` row holds.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: [u8; 12],
    /// The AES-256-GCM ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// Which of the two configured keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Current,
    Previous,
}

impl Role {
    fn var(self) -> &'static str {
        match self {
            Self::Current => var::FARO_ENCRYPTION_KEY.name,
            Self::Previous => var::FARO_ENCRYPTION_KEY_PREVIOUS.name,
        }
    }
}

/// No variant carries a plaintext or a key: only key ids, which are one-way fingerprints.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error(
        "a value is sealed under key {key_id}, which is neither FARO_ENCRYPTION_KEY nor \
         FARO_ENCRYPTION_KEY_PREVIOUS"
    )]
    UnknownKey { key_id: String },
    #[error("a value sealed under key {key_id} does not open: it was altered or moved")]
    DoesNotOpen { key_id: String },
    #[error("a value opened under key {key_id} is not text")]
    NotText { key_id: String },
    #[error("cannot seal a value of {len} bytes")]
    TooLong { len: usize },
    #[error(
        "{var} (key {key_id}) does not open the check value this database keeps for that key \
         id: it is not the key that sealed this database's values (or encryption_keys was \
         altered); restore the right key"
    )]
    WrongKey { var: &'static str, key_id: String },
    #[error(
        "{rows} SleakOps key(s) in the database are sealed under key(s) {}, which is neither \
         FARO_ENCRYPTION_KEY (key {current}) nor FARO_ENCRYPTION_KEY_PREVIOUS ({}): set \
         FARO_ENCRYPTION_KEY back to the key that sealed them, or set that key as \
         FARO_ENCRYPTION_KEY_PREVIOUS and run `faro-backend rekey`",
        .key_ids.join(", "),
        .previous.as_deref().map_or("unset".to_owned(), |id| format!("key {id}"))
    )]
    UnknownKeysInUse {
        key_ids: Vec<String>,
        rows: u64,
        current: String,
        previous: Option<String>,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl SealingError {
    /// Whether the configured keys do not fit the database: an operator must fix
    /// `FARO_ENCRYPTION_KEY` or `FARO_ENCRYPTION_KEY_PREVIOUS`.
    pub fn is_key_mismatch(&self) -> bool {
        matches!(self, Self::WrongKey { .. } | Self::UnknownKeysInUse { .. })
    }
}

/// The start-up check: each configured key whose check value the database keeps must open
/// it (the current key's is stored when absent), and no SleakOps key may be sealed under a
/// key that is neither configured key. Safe to run on many tasks at once.
pub async fn check_keys(db: &MySqlPool, keys: &KeyRing) -> Result<(), SealingError> {
    register_or_verify(db, keys).await?;
    if let Some(previous) = keys.previous_id() {
        let stored = store::check_value(db, previous).await?;
        if stored.is_some_and(|value| !keys.opens_check(Role::Previous, &value)) {
            return Err(SealingError::WrongKey {
                var: Role::Previous.var(),
                key_id: previous.to_owned(),
            });
        }
    }
    let unknown: Vec<(String, u64)> = store::key_ids_in_use(db)
        .await?
        .into_iter()
        .filter(|(id, _)| !keys.knows(id))
        .collect();
    if !unknown.is_empty() {
        return Err(SealingError::UnknownKeysInUse {
            rows: unknown.iter().map(|(_, n)| n).sum(),
            key_ids: unknown.into_iter().map(|(id, _)| id).collect(),
            current: keys.current_id().to_owned(),
            previous: keys.previous_id().map(str::to_owned),
        });
    }
    tracing::info!(
        key_id = keys.current_id(),
        previous = keys.previous_id(),
        "encryption keys checked"
    );
    Ok(())
}

/// The current key's check value must open when the database has one; else it is stored, so
/// a later start with another key under the same id is told apart.
async fn register_or_verify(db: &MySqlPool, keys: &KeyRing) -> Result<(), SealingError> {
    let current = keys.current_id();
    match store::check_value(db, current).await? {
        Some(value) if keys.opens_check(Role::Current, &value) => Ok(()),
        Some(_) => Err(SealingError::WrongKey {
            var: Role::Current.var(),
            key_id: current.to_owned(),
        }),
        None => {
            let value = keys.check_value()?;
            store::insert_check_value(db, current, &value, crate::db::now()).await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
