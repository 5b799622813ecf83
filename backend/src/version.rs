//! `GET /api/version`: which build is running. The SHA and commit time are baked in by
//! `build.rs` from git, never the wall clock, so one commit always builds the same bytes.

use crate::AppState;
use axum::Json;
use faro_types::VersionInfo;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const GIT_SHA: &str = env!("FARO_GIT_SHA");
const COMMIT_TIME: &str = env!("FARO_GIT_COMMIT_TIME");

pub fn info() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_sha: GIT_SHA.to_owned(),
        commit_time: (!COMMIT_TIME.is_empty()).then(|| COMMIT_TIME.to_owned()),
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(version))
}

/// Which build is running.
#[utoipa::path(get, path = "/api/version", tag = "operations",
    responses((status = 200, description = "The running build", body = VersionInfo)))]
async fn version() -> Json<VersionInfo> {
    Json(info())
}
