//! The time as this task's caches and fixed windows read it: the system's clock, plus however
//! far a test moved it on.
//!
//! A test cannot wait out a minute, and one that sleeps past a cache period or aims at a
//! window of the real clock fails as soon as the machine is slow. It moves the app's clock
//! instead ([`Clock::advance`]); the app never does, so in production this is the system's
//! clock. Timers that only pace work (polls, timeouts, keep-alives) use `tokio::time`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

/// Cheap to clone; clones read (and move) the same clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// How far ahead of the system's clock this one is, in nanoseconds.
    ahead: Arc<AtomicU64>,
}

impl Clock {
    fn ahead(&self) -> Duration {
        Duration::from_nanos(self.ahead.load(Ordering::SeqCst))
    }

    /// A monotonic reading, for measuring how long ago something happened.
    pub fn now(&self) -> Instant {
        Instant::now() + self.ahead()
    }

    /// The time of day, for windows shared with other tasks (counted in DynamoDB).
    pub fn wall(&self) -> SystemTime {
        SystemTime::now() + self.ahead()
    }

    /// [`Self::wall`] as a date and time.
    pub fn utc(&self) -> chrono::DateTime<chrono::Utc> {
        self.wall().into()
    }

    /// Moves this clock (and its clones) forward by `by`: for tests.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.ahead.fetch_add(nanos, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone_forward() {
        let clock = Clock::default();
        let copy = clock.clone();
        let (before, wall_before) = (clock.now(), clock.wall());
        copy.advance(Duration::from_secs(3600));
        assert!(clock.now() >= before + Duration::from_secs(3600));
        let moved = clock.wall().duration_since(wall_before).expect("later");
        assert!(moved >= Duration::from_secs(3600), "{moved:?}");
    }
}
