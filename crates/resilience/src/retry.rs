//! The retry loop both clients run their idempotent calls through.

use crate::{CircuitBreaker, CircuitOpen, RetryPolicy};
use std::{future::Future, time::Duration};

/// What a failed call says about the service's health, for the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The service answered (a 4xx of the caller's making, or a rate limit).
    Up,
    /// No answer, a timeout, a server error or an unreadable answer.
    Down,
}

/// Whether another attempt may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    No,
    Yes,
    /// Yes, but not before the service's `Retry-After`.
    After(Duration),
}

/// How a client's error type tells the retry loop what happened.
pub trait Classify: Sized {
    fn health(&self) -> Health;
    fn retry(&self) -> Retry;
    /// The error for a call the open circuit refused.
    fn circuit_open(open: CircuitOpen) -> Self;
}

/// The end of an error message that tells the user when to try again: the service's (or
/// the breaker's) wait when it named one, rounded up to a whole second.
pub fn wait_hint(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("try again in {} s", wait.as_secs().max(1)),
        None => "try again shortly".to_owned(),
    }
}

/// Runs `attempt` (given its 0-based number) through `breaker`, retrying what
/// [`Classify::retry`] allows up to `policy.max_retries` times with full-jitter backoff, and
/// never sooner than a `Retry-After`. A `Retry-After` beyond `policy.max_retry_after`, an
/// error that may not be retried, or the open circuit ends the loop with that error.
pub async fn run<T, E, F, Fut>(
    policy: &RetryPolicy,
    breaker: &CircuitBreaker,
    service: &'static str,
    mut attempt: F,
) -> Result<T, E>
where
    E: Classify + std::fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        let permit = breaker.try_acquire().map_err(E::circuit_open)?;
        let err = match attempt(n).await {
            Ok(value) => {
                permit.success();
                return Ok(value);
            }
            Err(err) => err,
        };
        match err.health() {
            Health::Up => permit.success(),
            Health::Down => permit.failure(),
        }
        let asked = match err.retry() {
            Retry::No => return Err(err),
            Retry::Yes => Duration::ZERO,
            Retry::After(wait) => wait,
        };
        if n >= policy.max_retries || asked > policy.max_retry_after {
            return Err(err);
        }
        let delay = policy.backoff.full_jitter(n).max(asked);
        tracing::debug!(
            service,
            retry = n + 1,
            delay_ms = delay.as_millis() as u64,
            error = %err,
            "retrying"
        );
        tokio::time::sleep(delay).await;
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backoff, BreakerConfig};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Clone)]
    enum E {
        Busy(Option<Duration>),
        Bad,
        Open,
    }

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Classify for E {
        fn health(&self) -> Health {
            match self {
                E::Busy(_) => Health::Down,
                _ => Health::Up,
            }
        }
        fn retry(&self) -> Retry {
            match self {
                E::Busy(Some(d)) => Retry::After(*d),
                E::Busy(None) => Retry::Yes,
                _ => Retry::No,
            }
        }
        fn circuit_open(_: CircuitOpen) -> Self {
            E::Open
        }
    }

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy::new(
            retries,
            Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
        )
    }

    fn breaker(threshold: u32) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: threshold,
            cool_down: Duration::from_secs(60),
        })
    }

    /// Runs an operation that always fails with `error`: the outcome and how often it ran.
    async fn always_failing(retries: u32, b: &CircuitBreaker, error: E) -> (Result<(), E>, u32) {
        let calls = AtomicU32::new(0);
        let out = run(&policy(retries), b, "test", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            let error = error.clone();
            async move { Err(error) }
        })
        .await;
        (out, calls.into_inner())
    }

    #[tokio::test]
    async fn retries_until_success_within_the_bound() {
        let calls = AtomicU32::new(0);
        let b = breaker(10);
        let out: Result<u32, E> = run(&policy(3), &b, "test", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(E::Busy(None)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(out.expect("third attempt"), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (out, calls) = always_failing(2, &b, E::Busy(None)).await;
        assert!(matches!(out, Err(E::Busy(_))));
        assert_eq!(calls, 3, "one try and two retries");
    }

    #[tokio::test]
    async fn does_not_retry_what_may_not_be_retried_or_waits_too_long() {
        let b = breaker(10);
        let (_, calls) = always_failing(5, &b, E::Bad).await;
        assert_eq!(calls, 1);

        let (_, calls) = always_failing(5, &b, E::Busy(Some(Duration::from_secs(3600)))).await;
        assert_eq!(calls, 1, "an hour is not waited for");
    }

    #[tokio::test]
    async fn honours_retry_after() {
        let b = breaker(10);
        let started = std::time::Instant::now();
        let _: Result<(), E> = run(&policy(1), &b, "test", |_| async {
            Err(E::Busy(Some(Duration::from_millis(150))))
        })
        .await;
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn the_open_circuit_stops_the_loop() {
        let (out, calls) = always_failing(10, &breaker(2), E::Busy(None)).await;
        assert!(matches!(out, Err(E::Open)));
        assert_eq!(calls, 2);
    }
}
