//! `faro-backend rekey`: every sealed key moved under the current KEK, so the previous one can
//! go.

use super::{KeyRing, SealingError, check_keys, store};
use sqlx::MySqlPool;
use std::fmt;

/// What a rekey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RekeyReport {
    /// Keys sealed again under the current KEK.
    pub resealed: u64,
    /// Keys that already were.
    pub already_current: u64,
}

impl RekeyReport {
    pub fn total(&self) -> u64 {
        self.resealed + self.already_current
    }
}

impl fmt::Display for RekeyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "re-encrypted {} of {} SleakOps keys; {} already under the current key",
            self.resealed,
            self.total(),
            self.already_current
        )
    }
}

/// Re-seals every SleakOps key not under the current KEK (with a fresh nonce), one short
/// transaction per row so the service keeps running beside it; running it again finds nothing
/// to do. It starts with the start-up check, which also registers the current key: a key
/// sealed under neither configured KEK stops it before anything changes.
pub async fn rekey(db: &MySqlPool, keys: &KeyRing) -> Result<RekeyReport, SealingError> {
    check_keys(db, keys).await?;
    let mut report = RekeyReport::default();
    for (org_id, key_id) in store::sealed_orgs(db).await? {
        if key_id == keys.current_id() {
            report.already_current += 1;
            continue;
        }
        let mut tx = db.begin().await?;
        // Read again under the lock: the organization may have set a new key (sealed under
        // the current KEK) or removed it since the list was read.
        match store::sealed_key_for_update(&mut tx, org_id).await? {
            None => {}
            Some(sealed) if sealed.key_id == keys.current_id() => report.already_current += 1,
            Some(sealed) => {
                let plaintext = keys.open(org_id, &sealed)?;
                let resealed = keys.seal(org_id, plaintext.expose())?;
                store::replace_sealed(&mut tx, org_id, &resealed).await?;
                report.resealed += 1;
            }
        }
        tx.commit().await?;
    }
    tracing::info!(
        resealed = report.resealed,
        already_current = report.already_current,
        key_id = keys.current_id(),
        "rekeyed"
    );
    Ok(report)
}
