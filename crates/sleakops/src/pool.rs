//! One client per API key, on shared connections, so that each key (each organization) has
//! its own circuit breaker: one organization's failing calls never pause another's.

use crate::{
    BreakerState, Client, Secret, Settings, SleakOpsError, http_client, normalize_base_url,
};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// Keys whose clients [`Clients`] keeps by default; asking for one more evicts the least
/// recently asked for.
pub const CAPACITY: usize = 10_000;

/// How recent a call must be for its client to count in [`Clients::circuit`].
pub const RECENT: Duration = Duration::from_secs(5 * 60);

/// The clients of every key, made from one [`Settings`]; cheap to clone (clones share them).
#[derive(Clone)]
pub struct Clients {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    http: reqwest::Client,
    capacity: usize,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// Counts requests for clients: the order in which they were last asked for.
    tick: u64,
    /// By the SHA-256 of the key, so the map holds no key.
    by_digest: HashMap<[u8; 32], Cached>,
}

struct Cached {
    client: Client,
    /// The [`Cache::tick`] when it was last asked for.
    asked: u64,
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("sleakops::Clients")
            .field("base_url", &self.shared.settings.base_url)
            .field("clients", &self.len())
            .field("capacity", &self.shared.capacity)
            .field("circuit", &self.circuit())
            .finish()
    }
}

fn digest(key: &Secret) -> [u8; 32] {
    Sha256::digest(key.expose().as_bytes()).into()
}

impl Clients {
    pub fn new(settings: Settings) -> Result<Self, SleakOpsError> {
        Self::with_capacity(settings, CAPACITY)
    }

    /// Keeps the clients of at most `capacity` keys (at least one).
    pub fn with_capacity(settings: Settings, capacity: usize) -> Result<Self, SleakOpsError> {
        let base_url = normalize_base_url(&settings.base_url)?;
        let http = http_client(&settings.timeouts)?;
        Ok(Self {
            shared: Arc::new(Shared {
                settings: Settings {
                    base_url,
                    ..settings
                },
                http,
                capacity: capacity.max(1),
                cache: Mutex::new(Cache::default()),
            }),
        })
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.shared.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn base_url(&self) -> &str {
        &self.shared.settings.base_url
    }

    /// The client of `key`: the same one (and breaker) every time, until it is evicted or
    /// forgotten. When the pool is full, the client asked for least recently goes; a caller
    /// still holding it may go on using it.
    pub fn for_key(&self, key: &Secret) -> Client {
        let digest = digest(key);
        let mut cache = self.cache();
        cache.tick += 1;
        let now = cache.tick;
        if let Some(cached) = cache.by_digest.get_mut(&digest) {
            cached.asked = now;
            return cached.client.clone();
        }
        if cache.by_digest.len() >= self.shared.capacity {
            // A scan, not an ordered index: it only runs when a new key arrives at a full pool.
            if let Some(oldest) = cache
                .by_digest
                .iter()
                .min_by_key(|(_, cached)| cached.asked)
                .map(|(digest, _)| *digest)
            {
                cache.by_digest.remove(&oldest);
            }
        }
        let client = Client::with_http(
            self.shared.http.clone(),
            self.shared.settings.clone().with_key(key.clone()),
        );
        cache.by_digest.insert(
            digest,
            Cached {
                client: client.clone(),
                asked: now,
            },
        );
        client
    }

    /// Drops the client of `key` (a key that was replaced or removed).
    pub fn forget(&self, key: &Secret) {
        self.cache().by_digest.remove(&digest(key));
    }

    /// Keys whose clients are kept.
    pub fn len(&self) -> usize {
        self.cache().by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SleakOps' state for a status page, from the breakers of the clients that made a call
    /// in the last [`RECENT`]: open only when every one of them is open (then it retries in
    /// the soonest of their `retry_in`), so one organization's failures never show SleakOps
    /// as down for all; closed when any is closed, or when none was used lately; otherwise
    /// half-open.
    pub fn circuit(&self) -> BreakerState {
        let states: Vec<BreakerState> = self
            .cache()
            .by_digest
            .values()
            .filter(|cached| {
                cached
                    .client
                    .last_call()
                    .is_some_and(|at| at.elapsed() <= RECENT)
            })
            .map(|cached| cached.client.circuit())
            .collect();
        summarize(&states)
    }
}

/// The rule of [`Clients::circuit`] over the recent clients' states.
fn summarize(states: &[BreakerState]) -> BreakerState {
    if states.is_empty() || states.contains(&BreakerState::Closed) {
        return BreakerState::Closed;
    }
    states
        .iter()
        .filter_map(|state| match state {
            BreakerState::Open { retry_in } => Some(*retry_in),
            _ => None,
        })
        .min()
        .filter(|_| states.iter().all(|state| state.is_open()))
        .map_or(BreakerState::HalfOpen, |retry_in| BreakerState::Open {
            retry_in,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(secs: u64) -> BreakerState {
        BreakerState::Open {
            retry_in: Duration::from_secs(secs),
        }
    }

    #[test]
    fn sleakops_is_down_only_when_every_recent_client_is_open() {
        assert_eq!(summarize(&[]), BreakerState::Closed);
        assert_eq!(
            summarize(&[open(5), BreakerState::Closed]),
            BreakerState::Closed
        );
        assert_eq!(summarize(&[open(5), open(3)]), open(3));
        assert_eq!(
            summarize(&[open(5), BreakerState::HalfOpen]),
            BreakerState::HalfOpen
        );
    }

    fn clients(capacity: usize) -> Clients {
        Clients::with_capacity(Settings::new("https://api.sleakops.com/api"), capacity)
            .expect("clients")
    }

    #[test]
    fn each_key_has_one_client_and_the_least_recently_asked_goes_first() {
        let clients = clients(2);
        let (a, b, c) = (
            Secret::new("key-a"),
            Secret::new("key-b"),
            Secret::new("key-c"),
        );
        let first = clients.for_key(&a);
        assert!(Arc::ptr_eq(&first.inner, &clients.for_key(&a).inner));
        assert_eq!(first.base_url(), "https://api.sleakops.com/api/");
        clients.for_key(&b);
        clients.for_key(&a);
        clients.for_key(&c);
        assert_eq!(clients.len(), 2);
        assert!(
            Arc::ptr_eq(&first.inner, &clients.for_key(&a).inner),
            "a was asked for after b"
        );
        assert_eq!(clients.len(), 2, "a was still there");
        clients.forget(&a);
        assert!(!Arc::ptr_eq(&first.inner, &clients.for_key(&a).inner));
    }

    #[test]
    fn debug_output_names_no_key() {
        let clients = clients(10);
        clients.for_key(&Secret::new("so-live-abcdef0123456789"));
        let debug = format!("{clients:?}");
        assert!(!debug.contains("abcdef0123456789"), "{debug}");
        assert!(debug.contains("clients: 1"), "{debug}");
    }
}
