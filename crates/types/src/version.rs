use serde::{Deserialize, Serialize};

/// The revision of the contract between the app and the API. Raise it with a backend change
/// that apps built before it cannot work with (an endpoint or field removed, or its meaning
/// changed), and set the backend's oldest served app revision accordingly: an app has the
/// revision of its own commit compiled in, and offers a reload when the backend no longer
/// serves it.
pub const API_REVISION: u32 = 1;

/// What `GET /api/version` answers: which build of the backend is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    /// The backend crate's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Full git commit SHA the binary was built from, or `"unknown"` outside a git checkout.
    pub git_sha: String,
    /// Commit time of that SHA (RFC 3339), so one commit always builds the same bytes.
    pub commit_time: Option<String>,
    /// The API revision this backend speaks ([`API_REVISION`] of its commit).
    pub api_revision: u32,
    /// The oldest app revision this backend still serves; an older app must reload.
    pub oldest_app_revision: u32,
}
