use std::{
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe may go through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// What the breaker lets through, for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Failing fast; a probe may go through after `retry_in`.
    Open {
        retry_in: Duration,
    },
    /// The cool-down ended: one probe decides whether the circuit closes again.
    HalfOpen,
}

impl BreakerState {
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open { .. })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// The breaker refused a call; try again after `retry_in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    pub retry_in: Duration,
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker shared by every call to one service. Each call takes a [`Permit`] and
/// reports how it went; a permit dropped without a verdict (the call was cancelled) counts
/// as neither, and frees the half-open probe slot for another caller.
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    clock: Clock,
}

/// Where the breaker reads the time. Its tests move a clock by hand: a cool-down they
/// waited out with a real one would also run out between two lines on a loaded machine.
#[derive(Debug, Default)]
enum Clock {
    #[default]
    System,
    #[cfg(test)]
    Manual(std::sync::Arc<Mutex<Instant>>),
}

impl Clock {
    fn now(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            #[cfg(test)]
            Self::Manual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.config)
            .field("state", &self.state())
            .finish()
    }
}

/// How long a caller that lost the race for the half-open probe is told to wait.
const PROBE_WAIT: Duration = Duration::from_secs(1);

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config: BreakerConfig {
                failure_threshold: config.failure_threshold.max(1),
                ..config
            },
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            clock: Clock::default(),
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        match &*self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } => {
                let now = self.clock.now();
                if *until > now {
                    BreakerState::Open {
                        retry_in: *until - now,
                    }
                } else {
                    BreakerState::HalfOpen
                }
            }
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Lets a call through, or refuses it while the circuit is open (or another caller's
    /// half-open probe is in flight).
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        let mut inner = self.lock();
        let probe = match &mut *inner {
            Inner::Closed { .. } => false,
            Inner::Open { until } => {
                let now = self.clock.now();
                if *until > now {
                    return Err(CircuitOpen {
                        retry_in: *until - now,
                    });
                }
                *inner = Inner::HalfOpen { probing: true };
                tracing::info!("circuit half-open: probing");
                true
            }
            Inner::HalfOpen { probing } => {
                if *probing {
                    return Err(CircuitOpen {
                        retry_in: PROBE_WAIT,
                    });
                }
                *probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            settled: false,
        })
    }

    fn succeed(&self) {
        let mut inner = self.lock();
        if !matches!(&*inner, Inner::Closed { failures: 0 }) {
            if !matches!(&*inner, Inner::Closed { .. }) {
                tracing::info!("circuit closed");
            }
            *inner = Inner::Closed { failures: 0 };
        }
    }

    /// Counts a failure observed outside a permit (a stream that broke after it started).
    pub fn record_failure(&self) {
        let mut inner = self.lock();
        let open = match &mut *inner {
            Inner::Closed { failures } => {
                *failures += 1;
                *failures >= self.config.failure_threshold
            }
            Inner::HalfOpen { .. } => true,
            // Already open: a late failure does not extend the cool-down.
            Inner::Open { .. } => false,
        };
        if open {
            tracing::warn!(
                cool_down_ms = self.config.cool_down.as_millis() as u64,
                "circuit open"
            );
            *inner = Inner::Open {
                until: self.clock.now() + self.config.cool_down,
            };
        }
    }

    fn release_probe(&self) {
        if let Inner::HalfOpen { probing } = &mut *self.lock() {
            *probing = false;
        }
    }
}

/// One call's pass through the breaker; report its outcome with [`Permit::success`] or
/// [`Permit::failure`].
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    settled: bool,
}

impl Permit<'_> {
    /// The service answered (even with an error of the caller's making).
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.succeed();
    }

    /// The service failed: no answer, a timeout, or a server error.
    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.record_failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.release_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A breaker whose time stands still until the test moves it on.
    struct Stopped {
        breaker: CircuitBreaker,
        at: Arc<Mutex<Instant>>,
    }

    impl Stopped {
        fn advance(&self, by: Duration) {
            *self.at.lock().expect("clock") += by;
        }
    }

    fn breaker(threshold: u32, cool_down_ms: u64) -> Stopped {
        let at = Arc::new(Mutex::new(Instant::now()));
        let mut breaker = CircuitBreaker::new(BreakerConfig {
            failure_threshold: threshold,
            cool_down: Duration::from_millis(cool_down_ms),
        });
        breaker.clock = Clock::Manual(at.clone());
        Stopped { breaker, at }
    }

    /// A breaker that one failure has just opened for `cool_down_ms`.
    fn opened(cool_down_ms: u64) -> Stopped {
        let stopped = breaker(1, cool_down_ms);
        stopped.breaker.try_acquire().expect("closed").failure();
        stopped
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = &breaker(3, 10_000).breaker;
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").success();
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().expect("closed").failure();
        assert!(b.state().is_open());
        let refused = b.try_acquire().expect_err("open");
        assert_eq!(refused.retry_in, Duration::from_secs(10));
    }

    #[test]
    fn half_open_lets_one_probe_through_and_closes_on_success() {
        let stopped = opened(30);
        let b = &stopped.breaker;
        stopped.advance(Duration::from_millis(29));
        assert!(b.try_acquire().is_err(), "open until the cool-down ends");
        stopped.advance(Duration::from_millis(1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().expect("the probe");
        assert!(b.try_acquire().is_err(), "only one probe at a time");
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().expect("closed again").success();
    }

    #[test]
    fn a_failed_probe_reopens_and_a_dropped_one_frees_the_slot() {
        let stopped = opened(30);
        let b = &stopped.breaker;
        stopped.advance(Duration::from_millis(30));
        drop(b.try_acquire().expect("probe"));
        let probe = b.try_acquire().expect("the slot is free again");
        probe.failure();
        assert!(b.state().is_open());
        assert!(b.try_acquire().is_err());
    }
}
