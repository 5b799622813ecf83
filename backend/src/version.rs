//! `GET /api/version`: which build is running. The SHA and commit time are baked in by
//! `build.rs` from git, never the wall clock, so one commit always builds the same bytes.
//! It also says which apps it serves: the frontend compares its own API revision with
//! [`OLDEST_APP_REVISION`] and offers a reload when it is older (version skew after a deploy).

use crate::AppState;
use axum::Json;
use faro_types::VersionInfo;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const GIT_SHA: &str = env!("FARO_GIT_SHA");
const COMMIT_TIME: &str = env!("FARO_GIT_COMMIT_TIME");

/// The oldest app revision ([`faro_types::API_REVISION`] of the app's commit) this backend
/// still serves. Raise it with a change that breaks apps built before it; keep it otherwise,
/// so an open tab keeps working across a deploy (changes are expand-then-contract).
pub const OLDEST_APP_REVISION: u32 = 1;
const _: () = assert!(OLDEST_APP_REVISION <= faro_types::API_REVISION);

pub fn info() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_sha: GIT_SHA.to_owned(),
        commit_time: (!COMMIT_TIME.is_empty()).then(|| COMMIT_TIME.to_owned()),
        api_revision: faro_types::API_REVISION,
        oldest_app_revision: OLDEST_APP_REVISION,
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
