//! The pace of the loops that wait on AWS: a stack, a task's rollout, an Amplify job.

use std::time::{Duration, Instant};

/// How often a wait loop looks again: every `quick` while the wait is younger than `settle`
/// (short operations end then, and are seen ending promptly), every `slow` after that, so a
/// long wait does not spend the account's API rate.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub settle: Duration,
    pub quick: Duration,
    pub slow: Duration,
}

impl Pace {
    /// Sleeps before the next look of a wait that began at `started`.
    pub async fn pause(&self, started: Instant) {
        let wait = if started.elapsed() < self.settle {
            self.quick
        } else {
            self.slow
        };
        tokio::time::sleep(wait).await;
    }
}
