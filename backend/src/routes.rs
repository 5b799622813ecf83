//! The route table: each feature's routes, registered together with their OpenAPI
//! descriptions so the two cannot drift apart, and `/api/openapi.json` serving the document.

use crate::{
    AppState, accounts, ai, config::Config, external, health, http, openapi, orgs, projects,
    releases, version,
};
use axum::{Json, Router, routing::get};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Every route of the API with its document, each under its timeout: the global one, but
/// for the AI calls that wait for DeepSeek's whole answer (a layer covers only the routes
/// added before it).
pub fn router(config: &Config) -> (Router<AppState>, Arc<utoipa::openapi::OpenApi>) {
    let (router, api) = OpenApiRouter::with_openapi(openapi::document())
        .merge(health::routes())
        .merge(version::routes())
        .merge(external::routes())
        .merge(accounts::routes())
        .merge(releases::routes())
        .merge(orgs::routes())
        .merge(projects::routes())
        .merge(ai::quick_routes())
        .layer(http::timeout(config.http.request_timeout))
        .merge(ai::routes().layer(http::timeout(config.ai.timeout)))
        .split_for_parts();
    let mut api = api;
    openapi::complete(&mut api);
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
