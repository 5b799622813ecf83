//! The route table: each feature's routes, registered together with their OpenAPI
//! descriptions so the two cannot drift apart, and `/api/openapi.json` serving the document.

use crate::{
    AppState, accounts, ai, config::Config, external, health, http, openapi, orgs, projects,
    releases, version,
};
use axum::{Json, Router, routing::get};
use std::sync::Arc;
use utoipa::IntoResponses;
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
    let api = Arc::new(sheddable(api));
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

/// Lists 503 under every operation load shedding may refuse ([`http::shed`]): all but the
/// probes it spares. Operations that list it already keep their own description.
fn sheddable(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let unavailable = openapi::Unavailable::responses();
    for (path, item) in api.paths.paths.iter_mut() {
        if http::shed::EXEMPT.contains(&path.as_str()) {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in &unavailable {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| response.clone());
            }
        }
    }
    api
}
