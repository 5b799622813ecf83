use std::time::{Duration, SystemTime};

/// Exponential backoff: the `n`th retry waits up to `base · 2ⁿ`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The upper bound of the wait before retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// "Full jitter": a uniformly random wait in `[0, ceiling(attempt)]`, so clients that
    /// failed together do not retry together.
    pub fn full_jitter(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// "Equal jitter": half of `ceiling(attempt)` plus a random share of the other half, for
    /// waits that must grow (a job rescheduled after a failure) but not in lockstep.
    pub fn equal_jitter(&self, attempt: u32) -> Duration {
        let half = self.ceiling(attempt) / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// How many times an idempotent call is retried and how long it waits in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    pub backoff: Backoff,
    /// A `Retry-After` longer than this is not waited for: the error goes to the caller,
    /// which can pass the wait on (as its own `Retry-After`) instead of holding a request.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub const fn new(max_retries: u32, backoff: Backoff) -> Self {
        Self {
            max_retries,
            backoff,
            max_retry_after: Duration::from_secs(10),
        }
    }

    pub const fn none() -> Self {
        Self::new(
            0,
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        )
    }
}

impl Default for RetryPolicy {
    /// Three retries, waiting up to 200 ms, 400 ms, 800 ms.
    fn default() -> Self {
        Self::new(
            3,
            Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        )
    }
}

/// A `Retry-After` header value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_and_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(400), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_varies() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let waits: Vec<Duration> = (0..200).map(|_| b.full_jitter(2)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        assert!(waits.iter().any(|w| *w != waits[0]), "jittered");
        let equal: Vec<Duration> = (0..200).map(|_| b.equal_jitter(2)).collect();
        assert!(
            equal
                .iter()
                .all(|w| *w >= Duration::from_millis(200) && *w <= Duration::from_millis(400))
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        let later = SystemTime::now() + Duration::from_secs(120);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(later)).expect("a date");
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
