//! The delay of sign-ins to an account past its threshold of attempts: it grows with each
//! attempt instead of refusing, so an attacker spraying guesses slows down every guesser but
//! cannot lock the account's owner out (the per-network limits are what answer 429).
//!
//! A delayed sign-in sleeps on the async runtime, before its password is checked: it holds
//! neither a hashing slot nor a thread, only its connection and a small future. What one task
//! lets sleep at once is bounded all the same, since an attacker from many networks could
//! otherwise pile them up; beyond the bound the sign-in answers 503 with `Retry-After`
//! without being checked.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error("too many sign-ins are waiting out their delay")]
    Full { retry_after: Duration },
}

impl From<ThrottleError> for crate::error::ApiError {
    fn from(err: ThrottleError) -> Self {
        let ThrottleError::Full { retry_after } = err;
        Self::Busy {
            what: "Signing in",
            retry_after,
        }
    }
}

/// How the delay grows: the first attempt past `threshold` waits `base`, each further one
/// twice as long, never more than `max`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Schedule {
    pub fn from_config(auth: &crate::config::AuthConfig) -> Self {
        Self {
            threshold: auth.login_attempts_per_account,
            base: auth.login_delay_base,
            max: auth.login_delay_max,
        }
    }

    /// The delay of the `attempts`-th attempt in the window (counting this one).
    pub fn delay(&self, attempts: u64) -> Duration {
        let Some(past) = attempts.checked_sub(u64::from(self.threshold) + 1) else {
            return Duration::ZERO;
        };
        // 2^20 times any base is past any max the configuration allows.
        let factor = 1u32 << past.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// This task's delayed sign-ins.
#[derive(Debug)]
pub struct Throttle {
    schedule: Schedule,
    sleepers: Arc<Semaphore>,
    delayed: AtomicU64,
}

impl Throttle {
    pub fn new(schedule: Schedule, max_sleeping: u32) -> Self {
        Self {
            schedule,
            sleepers: Arc::new(Semaphore::new(max_sleeping as usize)),
            delayed: AtomicU64::new(0),
        }
    }

    pub fn from_config(auth: &crate::config::AuthConfig) -> Self {
        Self::new(Schedule::from_config(auth), auth.login_delayed_max)
    }

    /// Waits out the delay of the account's `attempts`-th attempt, if it has one.
    pub async fn wait(&self, attempts: u64) -> Result<(), ThrottleError> {
        let delay = self.schedule.delay(attempts);
        if delay.is_zero() {
            return Ok(());
        }
        let Ok(_sleeping) = self.sleepers.try_acquire() else {
            return Err(ThrottleError::Full {
                retry_after: delay.max(Duration::from_secs(1)),
            });
        };
        self.delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Sign-ins this task has delayed.
    pub fn delayed(&self) -> u64 {
        self.delayed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    const SCHEDULE: Schedule = Schedule {
        threshold: 3,
        base: Duration::from_millis(250),
        max: Duration::from_secs(5),
    };

    #[test]
    fn attempts_up_to_the_threshold_are_not_delayed() {
        for attempts in 0..=3 {
            assert_eq!(SCHEDULE.delay(attempts), Duration::ZERO, "{attempts}");
        }
    }

    #[test]
    fn the_delay_doubles_past_the_threshold_up_to_its_cap() {
        let delays: Vec<u128> = (4..=10).map(|n| SCHEDULE.delay(n).as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(SCHEDULE.delay(u64::MAX), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn sleepers_beyond_the_bound_are_refused() {
        let long = Schedule {
            threshold: 0,
            base: Duration::from_secs(600),
            max: Duration::from_secs(600),
        };
        let throttle = Arc::new(Throttle::new(long, 1));
        let asleep = tokio::spawn({
            let throttle = throttle.clone();
            async move { throttle.wait(1).await }
        });
        // On this single-threaded runtime, the spawned sign-in now sleeps in the only place.
        tokio::task::yield_now().await;
        // Refused at its first poll: it never sleeps.
        let refused = throttle.wait(1).now_or_never().expect("answered at once");
        assert!(
            matches!(refused, Err(ThrottleError::Full { retry_after }) if retry_after.as_secs() == 600),
            "{refused:?}"
        );
        assert!(throttle.wait(0).await.is_ok(), "no delay, no place needed");
        assert_eq!(throttle.delayed(), 1);
        asleep.abort();
    }
}
