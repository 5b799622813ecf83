//! A short-lived, per-task memory of verified sessions.
//!
//! Every signed-in request would otherwise cost a DynamoDB read (the session) and a MySQL read
//! (the user) before any work: on the list endpoint that is half of its round trips. A verified
//! session is remembered for `FARO_SESSION_CACHE_MS` (5 s by default, never past its expiry).
//! Sign-out (and ending all of a user's sessions) forgets them on the task that served it at
//! once; another task may still accept the token until its memory of it lapses, which bounds a
//! revoked token's afterlife to that interval. `0` turns the cache off.

use super::CurrentUser;
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Entries kept at most; past it, expired ones go, and if none had, all of them.
const CAPACITY: usize = 10_000;

#[derive(Debug)]
struct Entry {
    user: CurrentUser,
    remembered_at: Instant,
    /// When the session expires or, unused, goes idle.
    session_ends_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    clock: Clock,
}

/// Tokens are kept hashed, like in DynamoDB: a heap dump shows no usable token.
fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl SessionCache {
    pub fn new(ttl: Duration, clock: Clock) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
            clock,
        }
    }

    fn remembered_for(&self, entry: &Entry) -> Duration {
        self.clock
            .now()
            .saturating_duration_since(entry.remembered_at)
    }

    /// The user of `token` if it was verified less than the TTL ago and has not ended.
    pub fn get(&self, token: &str) -> Option<CurrentUser> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = key(token);
        let entry = entries.get(&key)?;
        if self.remembered_for(entry) < self.ttl && entry.session_ends_at > self.clock.utc() {
            return Some(entry.user.clone());
        }
        entries.remove(&key);
        None
    }

    /// Remembers `user`'s session, which ends (expires or goes idle) at `session_ends_at`.
    pub fn put(&self, user: &CurrentUser, session_ends_at: DateTime<Utc>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| self.remembered_for(e) < self.ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key(&user.token),
            Entry {
                user: user.clone(),
                remembered_at: self.clock.now(),
                session_ends_at,
            },
        );
    }

    pub fn forget(&self, token: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&key(token));
    }

    /// Forgets every session of user `id` this task remembers.
    pub fn forget_user(&self, id: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| e.user.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(token: &str) -> CurrentUser {
        CurrentUser {
            id: 7,
            email: "ada@example.com".into(),
            name: "Ada".into(),
            created_at: Utc::now(),
            token: token.into(),
        }
    }

    #[test]
    fn remembers_until_the_ttl_or_the_session_ends() {
        let clock = Clock::default();
        let cache = SessionCache::new(Duration::from_secs(60), clock.clone());
        let later = Utc::now() + chrono::Duration::hours(1);
        cache.put(&user("a"), later);
        assert_eq!(cache.get("a").map(|u| u.id), Some(7));
        assert!(cache.get("b").is_none());
        clock.advance(Duration::from_secs(60));
        assert!(cache.get("a").is_none(), "past the TTL");

        cache.put(&user("c"), Utc::now() - chrono::Duration::seconds(1));
        assert!(cache.get("c").is_none(), "the session itself expired");
    }

    #[test]
    fn forgetting_is_immediate_and_zero_turns_it_off() {
        let cache = SessionCache::new(Duration::from_secs(60), Clock::default());
        let later = Utc::now() + chrono::Duration::hours(1);
        cache.put(&user("a"), later);
        cache.forget("a");
        assert!(cache.get("a").is_none());

        cache.put(&user("b"), later);
        cache.put(&user("c"), later);
        cache.forget_user(7);
        assert!(cache.get("b").is_none() && cache.get("c").is_none());

        let off = SessionCache::new(Duration::ZERO, Clock::default());
        off.put(&user("a"), later);
        assert!(off.get("a").is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = SessionCache::new(Duration::from_secs(60), Clock::default());
        let later = Utc::now() + chrono::Duration::hours(1);
        for i in 0..CAPACITY + 10 {
            cache.put(&user(&i.to_string()), later);
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= CAPACITY, "{len}");
        assert!(cache.get(&(CAPACITY + 9).to_string()).is_some());
    }
}
