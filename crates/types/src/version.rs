use serde::{Deserialize, Serialize};

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
}
