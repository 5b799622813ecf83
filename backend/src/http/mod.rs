//! The HTTP plumbing every route shares: request ids, access logs, problem rendering, JSON
//! input, limits, load shedding, CORS and timeouts.

mod client;
mod json;
mod problem;
mod query;
mod request_id;
pub mod shed;

pub use client::ClientInfo;
pub use json::{ApiJson, OptionalJson};
pub use problem::problem_layer;
pub use query::ApiQuery;
pub use request_id::{RequestId, request_id_layer};
pub use shed::InFlight;

use crate::{config::HttpConfig, error::ApiError};
use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};
use std::any::Any;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
};

/// Wraps `router` in the production middleware stack. Order matters: the request id is set
/// first so every later layer (and the problem renderer) can quote it; shedding comes after
/// CORS (a browser can read the 503; preflights cost nothing) and before any work. Timeouts
/// are not here: each group of routes brings its own ([`timeout`]), since AI calls may take
/// most of a minute where everything else gets `FARO_REQUEST_TIMEOUT_MS`.
pub fn layered<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &HttpConfig,
    in_flight: &InFlight,
) -> Router<S> {
    router
        .fallback(|| async { ApiError::NotFound })
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            in_flight.clone(),
            shed::shed,
        ))
        .layer(cors(&config.cors_origins))
        .layer(middleware::from_fn(problem_layer))
        .layer(middleware::from_fn(request_id_layer))
}

/// Answers 503 for a request its handler has not answered within `limit` (a stream's
/// headers count as the answer, so a stream may run on).
pub fn timeout(limit: std::time::Duration) -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limit)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}
