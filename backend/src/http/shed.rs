//! Load shedding: one bound on the requests a task serves at once, shared by every route.
//!
//! A request beyond the bound is answered 503 with `Retry-After` at once rather than queued:
//! a queue only grows under overload, and every request in it would wait out its timeout while
//! holding its connection and body. The permits live in one [`Semaphore`] the middleware's state
//! shares, so axum cloning the layer per route (axum#2582, why a per-route
//! `ConcurrencyLimitLayer` bounds nothing as a whole) still counts against one limit. tower's
//! `load_shed` over a global concurrency limit would do the same, but needs an error handler
//! to answer and cannot spare the probes, which [`EXEMPT`] keeps answered on a full task so the
//! load balancer neither kills a busy task nor stops routing to it.
//!
//! A permit is held until the handler returns its response: a server-sent event stream gives
//! it back once it opens, as its own bounds (live timelines per user and per task, AI calls per
//! user) cover the time it stays open. Counting streams here would let a few long-lived
//! streams starve every ordinary request.

use crate::error::ApiError;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;

/// Paths served whatever the load: liveness and readiness.
pub const EXEMPT: [&str; 2] = ["/healthz", "/readyz"];

/// How long a shed caller is asked to wait: requests in flight finish within milliseconds.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The task's requests in flight; clones share the bound.
#[derive(Debug, Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
}

impl InFlight {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
        }
    }

    /// How many more requests would be served now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// The middleware: serves the request under a permit, or sheds it.
pub async fn shed(State(in_flight): State<InFlight>, request: Request, next: Next) -> Response {
    if EXEMPT.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match in_flight.permits.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => overloaded(),
    }
}

/// A shed request: 503 with `Retry-After`, and no log line beyond the access log's.
fn overloaded() -> Response {
    ApiError::Busy {
        what: "This instance",
        retry_after: RETRY_AFTER,
    }
    .into_response()
}
