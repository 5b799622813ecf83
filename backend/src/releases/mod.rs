//! Releases: requesting a build and deployment, following it on its timeline (also live, as
//! server-sent events), cancelling and retrying it, and the delivery metrics they add up to.
//!
//! MySQL holds the release and its outbox row (the release worker's queue); DynamoDB holds
//! the timeline and the idempotency keys. [`timeline`] is the API the worker writes events
//! through.

pub mod approval;
mod create;
mod events;
pub mod feeds;
pub mod idempotency;
mod metrics;
mod promotion;
pub mod query;
pub mod store;
pub mod timeline;
mod transitions;

use crate::AppState;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

/// `/api/releases/{id}`: the release.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReleasePath {
    /// The release's id
    pub id: u64,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(query::list, create::create))
        .routes(routes!(query::recent))
        .routes(routes!(query::get))
        .routes(routes!(query::timeline))
        .routes(routes!(events::events))
        .routes(routes!(transitions::cancel))
        .routes(routes!(transitions::retry))
        .routes(routes!(approval::approve))
        .routes(routes!(approval::reject))
        .routes(routes!(promotion::promote))
        .routes(routes!(promotion::roll_back))
        .routes(routes!(metrics::metrics))
}
