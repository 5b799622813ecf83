use crate::types::WireError;
use faro_resilience::{
    CircuitOpen, Classify, Health, Phase, TransportError,
    http::{excerpt, retry_after},
    retry::{Retry, wait_hint},
};
use std::time::Duration;

/// Everything a call to DeepSeek can end in, each with a message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeepSeekError {
    #[error(
        "DeepSeek rejected the request body as malformed (400: {message}); this is a bug in the caller, report it"
    )]
    InvalidFormat { message: String },
    #[error(
        "DeepSeek rejected the API key (401); check that the configured key is complete and not revoked"
    )]
    Authentication,
    #[error(
        "the DeepSeek account has run out of balance (402); top it up at platform.deepseek.com"
    )]
    InsufficientBalance,
    #[error(
        "DeepSeek rejected the request's parameters (422: {message}); shorten the input or check the model name"
    )]
    InvalidParameters { message: String },
    #[error("DeepSeek is rate limiting this account (429); {}", wait_hint(*retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("DeepSeek failed with an internal error (500: {message}); try again shortly")]
    ServerError { message: String },
    #[error("DeepSeek is overloaded (503); {}", wait_hint(*retry_after))]
    Overloaded { retry_after: Option<Duration> },
    #[error("DeepSeek answered with unexpected status {status} ({message})")]
    UnexpectedStatus { status: u16, message: String },
    #[error("DeepSeek did not answer in time: no answer {phase} (after {} ms); try again shortly", after.as_millis())]
    Timeout { phase: Phase, after: Duration },
    #[error("cannot reach DeepSeek ({detail}); check the network path and the base URL")]
    Connection { detail: String },
    #[error("DeepSeek sent an answer that cannot be read ({detail}); try again")]
    MalformedBody { detail: String },
    #[error("DeepSeek's streamed answer broke off ({detail}); try again")]
    StreamInterrupted { detail: String },
    #[error(
        "DeepSeek failed repeatedly, so calls to it are paused; {}",
        wait_hint(Some(*retry_in))
    )]
    CircuitOpen { retry_in: Duration },
    #[error("the DeepSeek client is misconfigured: {detail}")]
    Config { detail: String },
}

impl DeepSeekError {
    /// The HTTP status DeepSeek answered, for errors that are one.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            Self::InvalidFormat { .. } => 400,
            Self::Authentication => 401,
            Self::InsufficientBalance => 402,
            Self::InvalidParameters { .. } => 422,
            Self::RateLimited { .. } => 429,
            Self::ServerError { .. } => 500,
            Self::Overloaded { .. } => 503,
            Self::UnexpectedStatus { status, .. } => *status,
            _ => return None,
        })
    }

    /// How long to wait before trying again, when DeepSeek (or the breaker) said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Overloaded { retry_after } => *retry_after,
            Self::CircuitOpen { retry_in } => Some(*retry_in),
            _ => None,
        }
    }

    /// The request itself was at fault (400/422): retrying it unchanged cannot help.
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidFormat { .. } | Self::InvalidParameters { .. } | Self::Config { .. }
        )
    }

    /// Builds the error for a non-success answer.
    pub(crate) fn from_response(
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Self {
        let message = serde_json::from_slice::<WireError>(body)
            .ok()
            .and_then(|e| e.error.message)
            .unwrap_or_else(|| excerpt(body, 200));
        let retry_after = retry_after(headers);
        match status {
            400 => Self::InvalidFormat { message },
            401 => Self::Authentication,
            402 => Self::InsufficientBalance,
            422 => Self::InvalidParameters { message },
            429 => Self::RateLimited { retry_after },
            500 => Self::ServerError { message },
            503 => Self::Overloaded { retry_after },
            status => Self::UnexpectedStatus { status, message },
        }
    }
}

impl From<TransportError> for DeepSeekError {
    fn from(err: TransportError) -> Self {
        match err {
            TransportError::Invalid { detail } => Self::Config { detail },
            TransportError::Connect { detail } | TransportError::Broken { detail } => {
                Self::Connection { detail }
            }
            TransportError::Timeout { phase, after } => Self::Timeout { phase, after },
        }
    }
}

impl Classify for DeepSeekError {
    fn health(&self) -> Health {
        match self {
            Self::ServerError { .. }
            | Self::Overloaded { .. }
            | Self::Timeout { .. }
            | Self::Connection { .. }
            | Self::MalformedBody { .. }
            | Self::StreamInterrupted { .. } => Health::Down,
            Self::UnexpectedStatus { status, .. } if *status >= 500 => Health::Down,
            _ => Health::Up,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            Self::RateLimited { retry_after } | Self::Overloaded { retry_after } => {
                retry_after.map_or(Retry::Yes, Retry::After)
            }
            Self::ServerError { .. } | Self::Connection { .. } => Retry::Yes,
            _ => Retry::No,
        }
    }

    fn circuit_open(open: CircuitOpen) -> Self {
        Self::CircuitOpen {
            retry_in: open.retry_in,
        }
    }
}
