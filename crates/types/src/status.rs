//! `GET /api/status`: what the app runs against, for the operations banner.

use serde::{Deserialize, Serialize};

/// Whether an external service is the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceMode {
    Real,
    /// A simulator from `crates/sim` (the base URL is not the service's own host).
    Simulated,
    /// No API key is configured: the features that need it are off.
    NotConfigured,
}

/// The client's circuit breaker, on the task that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// The service failed repeatedly; calls fail fast until a probe is allowed.
    Open,
    /// One probe call decides whether the circuit closes again.
    HalfOpen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExternalService {
    /// `deepseek` or `sleakops`.
    pub name: String,
    pub mode: ServiceMode,
    pub circuit: CircuitState,
    /// While the circuit is open: seconds until a probe is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    Info,
    Warning,
}

/// One line of the operations banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

/// The release worker on the task that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerStatus {
    /// `FARO_WORKER_ENABLED` and SleakOps configured.
    pub enabled: bool,
    /// Claiming releases now (false before start-up and once shutdown began).
    pub running: bool,
}

/// What `GET /api/status` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpsStatus {
    /// DeepSeek and SleakOps.
    pub services: Vec<ExternalService>,
    /// At least one service is simulated: the UI says so.
    pub simulated: bool,
    pub worker: WorkerStatus,
    /// What the banner shows, most important first; empty when all is well.
    pub notices: Vec<Notice>,
}
