//! Password hashing with Argon2id (OWASP's first choice), off the async threads, as a bounded
//! resource: each hash holds 19 MiB and a blocking thread for tens of milliseconds, so a task
//! computes at most a fixed number at once ([`Hasher`]) and refuses what its short queue
//! cannot hold, rather than running out of memory under a burst of sign-ups.

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng},
};
use std::{
    sync::{
        Arc, Mutex, OnceLock,
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
            PasswordError::Busy { retry_after } => Self::Busy {
                what: "Password checking",
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
    /// Each slot's 19 MiB, kept between hashes: freed and allocated again each time, glibc
    /// keeps it in the heap of whichever thread ran the hash (measured: about 11 MB more
    /// resident per hash, 240 MB after 20 sequential sign-ins). At most one per slot.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
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
            memory: Arc::default(),
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
        self.compute(slot, move |memory| hash_now(&password, memory))
            .await
    }

    /// [`verify`] in one of this task's slots.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let slot = self.slot().await?;
        self.compute(slot, move |memory| verify_now(&password, stored, memory))
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
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        self.computed.fetch_add(1, Ordering::Relaxed);
        let (running, peak) = (self.running.clone(), self.peak.clone());
        let pool = self.memory.clone();
        // The slot moves into the blocking closure: a request dropped mid-hash (the client
        // went away) keeps its slot until the memory is really freed.
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            let taken = pool.lock().ok().and_then(|mut free| free.pop());
            let mut memory = taken.unwrap_or_default();
            let result = work(&mut memory);
            if let Ok(mut free) = pool.lock() {
                free.push(memory);
            }
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
    tokio::task::spawn_blocking(move || hash_now(&password, &mut Vec::new())).await?
}

/// Checks `password` against a stored hash. The comparison inside is constant-time. With no
/// stored hash (unknown account) a dummy hash is checked anyway, so response time does not
/// tell whether an account exists. Not bounded: request handlers go through
/// [`Hasher::verify`] (`AppState::passwords`).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || verify_now(&password, stored, &mut Vec::new())).await?
}

/// Argon2id with the default parameters, in `memory` (grown to what they need).
fn hash_now(password: &str, memory: &mut Vec<Block>) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = compute_into(
        &argon2,
        password,
        salt_raw,
        Params::DEFAULT_OUTPUT_LEN,
        memory,
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Recomputes a stored hash with its own algorithm, version, parameters and salt, in
/// `memory`; the comparison of the outputs is constant-time.
fn verify_now(
    password: &str,
    stored: Option<String>,
    memory: &mut Vec<Block>,
) -> Result<bool, PasswordError> {
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
    let parsed = PasswordHash::new(&stored).map_err(failed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(PasswordError::Hash(
            "the stored hash has no salt or output".into(),
        ));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(failed)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(failed)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(failed)?;
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let output = compute_into(&argon2, password, salt_raw, expected.len(), memory)?;
    Ok(known && output == expected)
}

fn compute_into(
    argon2: &Argon2<'_>,
    password: &str,
    salt: &[u8],
    len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, PasswordError> {
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Output::init_with(len, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
            .map_err(Into::into)
    })
    .map_err(failed)
}

fn failed(err: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(err.to_string())
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not a real password", &mut Vec::new()).unwrap_or_default())
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

    #[test]
    fn hashes_made_by_the_library_itself_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let stored = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .expect("hash")
            .to_string();
        let mut memory = Vec::new();
        let stored = Some(stored);
        assert!(verify_now("correct horse battery", stored.clone(), &mut memory).expect("ok"));
        assert!(!verify_now("wrong horse battery", stored, &mut memory).expect("ok"));
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
