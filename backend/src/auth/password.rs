//! Password hashing with Argon2id (OWASP's first choice), off the async threads, as a bounded
//! resource: each hash holds 19 MiB and a blocking thread for tens of milliseconds, so a task
//! computes at most a fixed number at once ([`Hasher`]) and refuses what its short queue
//! cannot hold, rather than running out of memory under a burst of sign-ups.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Every hashing slot is taken and the queue is full, or the wait for a slot ran out.
    #[error("password hashing is busy")]
    Busy { retry_after: Duration },
}

impl From<PasswordError> for crate::error::ApiError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy { retry_after } => Self::Unavailable {
                what: "Password checking",
                detail: "every hashing slot is taken and the queue is full".into(),
                retry_after,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

/// What a refused request is asked to wait: about one hash's time for a queue to move on.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// This task's hashing slots and the queue in front of them.
#[derive(Debug)]
pub struct Hasher {
    /// Slots plus queue places: a request that finds none is refused at once, so the
    /// requests waiting are bounded too.
    admission: Arc<Semaphore>,
    slots: Arc<Semaphore>,
    max_wait: Duration,
    computed: AtomicU64,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// A hashing slot (and its place in the admission), held until the hash it was taken for is
/// computed, even when the request that asked has gone.
#[derive(Debug)]
pub struct Slot {
    _admission: OwnedSemaphorePermit,
    _slot: OwnedSemaphorePermit,
}

impl Hasher {
    /// `slots` hashes at once (at least one), with `queue_per_slot` requests waiting for each
    /// at most `max_wait`.
    pub fn new(slots: u32, queue_per_slot: u32, max_wait: Duration) -> Self {
        let slots = slots.max(1) as usize;
        let places = slots.saturating_mul(1 + queue_per_slot as usize);
        Self {
            admission: Arc::new(Semaphore::new(places)),
            slots: Arc::new(Semaphore::new(slots)),
            max_wait,
            computed: AtomicU64::new(0),
            running: Arc::default(),
            peak: Arc::default(),
        }
    }

    pub fn from_config(auth: &crate::config::AuthConfig) -> Self {
        Self::new(auth.hash_slots, auth.hash_queue_per_slot, auth.hash_wait)
    }

    /// A slot, after waiting in the queue if there is a place in it.
    pub async fn slot(&self) -> Result<Slot, PasswordError> {
        let busy = PasswordError::Busy {
            retry_after: BUSY_RETRY,
        };
        let admission = match self.admission.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => return Err(busy),
        };
        match tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Slot {
                _admission: admission,
                _slot: slot,
            }),
            // The semaphore is never closed; a timeout is the other way to get here.
            Ok(Err(_)) | Err(_) => Err(busy),
        }
    }

    /// [`hash`] in one of this task's slots.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let slot = self.slot().await?;
        self.compute(slot, move || hash_now(&password)).await
    }

    /// [`verify`] in one of this task's slots.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let slot = self.slot().await?;
        self.compute(slot, move || verify_now(&password, stored))
            .await
    }

    /// Argon2id computations this task has started, hashes and checks alike.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// The most computations this task has run at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    async fn compute<T: Send + 'static>(
        &self,
        slot: Slot,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        self.computed.fetch_add(1, Ordering::Relaxed);
        let (running, peak) = (self.running.clone(), self.peak.clone());
        // The slot moves into the blocking closure: a request dropped mid-hash (the client
        // went away) keeps its slot until the memory is really freed.
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            let result = work();
            running.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
            result
        })
        .await?
    }
}

/// Hashes with Argon2id's default parameters (19 MiB, 2 passes), salted, in PHC format. Not
/// bounded: request handlers go through [`Hasher::hash`] (`AppState::passwords`).
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// Checks `password` against a stored hash. The comparison inside is constant-time. With no
/// stored hash (unknown account) a dummy hash is checked anyway, so response time does not
/// tell whether an account exists. Not bounded: request handlers go through
/// [`Hasher::verify`] (`AppState::passwords`).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || verify_now(&password, stored)).await?
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_now(password: &str, stored: Option<String>) -> Result<bool, PasswordError> {
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
    let parsed = PasswordHash::new(&stored).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Ok(known && matches)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not a real password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse battery".into()).await.expect("hash");
        let b = hash("correct horse battery".into()).await.expect("hash");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery".into(), Some(a.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse battery".into(), Some(a))
                .await
                .expect("verify")
        );
        assert!(!verify("anything".into(), None).await.expect("verify"));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_freed_slot_serves_the_next() {
        let hasher = Hasher::new(1, 0, Duration::from_secs(30));
        let held = hasher.slot().await.expect("the only slot");
        assert!(matches!(
            hasher.hash("correct horse battery".into()).await,
            Err(PasswordError::Busy { .. })
        ));
        drop(held);
        let hashed = hasher.hash("correct horse battery".into()).await;
        assert!(hashed.expect("a free slot").starts_with("$argon2id$"));
        assert_eq!((hasher.computed(), hasher.peak()), (1, 1));
    }
}
