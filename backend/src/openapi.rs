//! The OpenAPI 3.1 document, generated from the handlers' annotations: every route is
//! registered together with its description, so the two cannot drift apart.

use crate::{AppState, accounts, health, version};
use axum::{Json, Router, routing::get};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Faro API",
        description = "The release cockpit: projects, environments, releases on SleakOps, their live timelines and delivery metrics. Errors are RFC 9457 problem documents (`application/problem+json`).",
    ),
    tags(
        (name = "operations", description = "Health, readiness, build information, and what the app runs against"),
        (name = "accounts", description = "Sign-up, sign-in and sessions"),
        (name = "releases", description = "Releases, their timelines and live events, and delivery metrics"),
        (name = "projects", description = "Projects, their environments and members, and each project's audit log"),
        (name = "ai", description = "DeepSeek's help with a release: notes, explanations of failures, and a chat"),
    )
)]
struct ApiDoc;

/// Every route of the API with its document, and `/api/openapi.json` serving it.
pub fn router() -> (Router<AppState>, Arc<utoipa::openapi::OpenApi>) {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(version::routes())
        .merge(crate::external::routes())
        .merge(accounts::routes())
        .merge(crate::releases::routes())
        .merge(crate::projects::routes())
        .merge(crate::ai::routes())
        .split_for_parts();
    let api = Arc::new(api);
    let served = api.clone();
    let router = router.route(
        "/api/openapi.json",
        get(move || {
            let api = served.clone();
            async move { Json(api) }
        }),
    );
    (router, api)
}
