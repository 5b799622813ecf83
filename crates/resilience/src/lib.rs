//! What Faro's clients of external services (DeepSeek, SleakOps) share, written once:
//!
//! - [`Secret`]: an API key that never shows in `Debug` output or logs;
//! - [`Backoff`] and [`RetryPolicy`]: bounded retries with full-jitter exponential backoff
//!   that honour `Retry-After`, driven by [`retry::run`];
//! - [`CircuitBreaker`]: closed → open after N consecutive failures → one half-open probe
//!   after a cool-down → closed on success; it fails fast while open;
//! - [`http`]: connect, first-byte and total timeouts around `reqwest`, and a classification
//!   of transport failures that tells "never sent" from "maybe received".

mod backoff;
mod breaker;
pub mod http;
pub mod retry;
mod secret;

pub use backoff::{Backoff, RetryPolicy, parse_retry_after};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, CircuitOpen, Permit};
pub use http::{Phase, Timeouts, TransportError};
pub use retry::{Classify, Health};
pub use secret::Secret;
