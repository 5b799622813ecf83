use faro_resilience::{
    CircuitOpen, Classify, Health, Phase, TransportError,
    http::{excerpt, retry_after},
    retry::{Retry, wait_hint},
};
use std::time::Duration;

/// Everything a call to SleakOps can end in, each with a message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SleakOpsError {
    #[error("SleakOps refused the request (400): {reason}")]
    BadRequest { reason: String },
    #[error(
        "SleakOps rejected the API key (401); check that the configured key is complete and not revoked"
    )]
    Unauthorized,
    #[error("SleakOps does not allow this (403): {reason}; check the API key's permissions")]
    Forbidden { reason: String },
    #[error("SleakOps has no {what}")]
    NotFound { what: String },
    #[error("SleakOps cannot do this now (412): {reason}")]
    PreconditionFailed { reason: String },
    #[error("SleakOps is rate limiting this account (429); {}", wait_hint(*retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("SleakOps is unavailable ({status}); {}", wait_hint(*retry_after))]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("SleakOps failed with an internal error ({status}: {detail}); try again shortly")]
    Server { status: u16, detail: String },
    #[error("SleakOps answered with unexpected status {status} ({detail})")]
    UnexpectedStatus { status: u16, detail: String },
    #[error("SleakOps did not answer in time: no answer {phase} (after {} ms)", after.as_millis())]
    Timeout { phase: Phase, after: Duration },
    #[error("cannot reach SleakOps ({detail}); check the network path and the base URL")]
    Connection { detail: String },
    #[error("SleakOps sent an answer that cannot be read ({detail})")]
    Malformed { detail: String },
    /// A trigger (POST) may or may not have been acted on: the request may have reached
    /// SleakOps, but no readable answer came back. It is never retried automatically.
    #[error(
        "it is unknown whether SleakOps {operation}: {detail}; check SleakOps before trying again"
    )]
    OutcomeUnknown {
        operation: &'static str,
        detail: String,
    },
    #[error(
        "SleakOps failed repeatedly, so calls to it are paused; {}",
        wait_hint(Some(*retry_in))
    )]
    CircuitOpen { retry_in: Duration },
    #[error("the SleakOps client is misconfigured: {detail}")]
    Config { detail: String },
    #[error("SleakOps lists more than {limit} pages of project environments; not all were read")]
    TooManyPages { limit: usize },
}

impl SleakOpsError {
    /// SleakOps could not be used just now, and the same request may well work later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Unavailable { .. }
                | Self::Server { .. }
                | Self::Timeout { .. }
                | Self::Connection { .. }
                | Self::Malformed { .. }
                | Self::CircuitOpen { .. }
        )
    }

    /// SleakOps refused the key itself (401) or what it may do (403): for a key being set,
    /// an invalid key.
    pub fn is_key_rejected(&self) -> bool {
        matches!(self, Self::Unauthorized | Self::Forbidden { .. })
    }

    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. })
    }

    /// How long to wait before trying again, when SleakOps (or the breaker) said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            Self::CircuitOpen { retry_in } => Some(*retry_in),
            _ => None,
        }
    }

    /// The error for a non-success answer. `trigger` names what a POST asked for; a
    /// server error to a POST leaves its outcome unknown.
    pub(crate) fn from_response(
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        what: &str,
        trigger: Option<&'static str>,
    ) -> Self {
        let reason = || {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .map(|v| crate::types::messages(&v).join("; "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| excerpt(body, 300))
        };
        let retry_after = retry_after(headers);
        match status {
            400 | 422 => Self::BadRequest { reason: reason() },
            401 => Self::Unauthorized,
            403 => Self::Forbidden { reason: reason() },
            404 => Self::NotFound {
                what: what.to_owned(),
            },
            412 => Self::PreconditionFailed { reason: reason() },
            429 => Self::RateLimited { retry_after },
            // Refused before being acted on, so even a trigger may be sent again.
            503 => Self::Unavailable {
                status,
                retry_after,
            },
            500..=599 => match trigger {
                Some(operation) => Self::OutcomeUnknown {
                    operation,
                    detail: format!("it answered {status} ({})", excerpt(body, 200)),
                },
                None => Self::Server {
                    status,
                    detail: excerpt(body, 200),
                },
            },
            status => Self::UnexpectedStatus {
                status,
                detail: excerpt(body, 200),
            },
        }
    }

    /// The error for a transport failure; for a trigger, anything after the request may
    /// have been sent leaves its outcome unknown.
    pub(crate) fn from_transport(err: TransportError, trigger: Option<&'static str>) -> Self {
        match (err, trigger) {
            (TransportError::Invalid { detail }, _) => Self::Config { detail },
            (TransportError::Connect { detail }, _) => Self::Connection { detail },
            (
                TransportError::Timeout {
                    phase: Phase::Connect,
                    after,
                },
                _,
            ) => Self::Timeout {
                phase: Phase::Connect,
                after,
            },
            (err, Some(operation)) => Self::OutcomeUnknown {
                operation,
                detail: err.to_string(),
            },
            (TransportError::Timeout { phase, after }, None) => Self::Timeout { phase, after },
            (TransportError::Broken { detail }, None) => Self::Connection { detail },
        }
    }
}

impl Classify for SleakOpsError {
    fn health(&self) -> Health {
        match self {
            Self::Unavailable { .. }
            | Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Connection { .. }
            | Self::Malformed { .. }
            | Self::OutcomeUnknown { .. } => Health::Down,
            Self::UnexpectedStatus { status, .. } if *status >= 500 => Health::Down,
            // SleakOps answered: a refused key (401, 403), like any 4xx, is about the caller.
            _ => Health::Up,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => {
                retry_after.map_or(Retry::Yes, Retry::After)
            }
            Self::Server { .. }
            | Self::Connection { .. }
            | Self::Timeout {
                phase: Phase::Connect,
                ..
            } => Retry::Yes,
            _ => Retry::No,
        }
    }

    fn circuit_open(open: CircuitOpen) -> Self {
        Self::CircuitOpen {
            retry_in: open.retry_in,
        }
    }
}
