use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One write, as recorded: who, what, when and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor_id: u64,
    pub actor_email: String,
    /// A dotted verb such as `project.update` or `release.create`.
    pub action: String,
    /// What was acted on, such as `environment:staging` or `release:42`.
    pub target: String,
    /// The client address the request came from.
    pub source_ip: String,
    /// The fields that changed, when the action changed fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}
