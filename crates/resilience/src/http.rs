//! Timeouts around `reqwest` and what a transport failure means for the request.
//!
//! `reqwest` enforces the connect timeout; the first-byte timeout bounds the wait for the
//! response head and the total timeout bounds the whole exchange, body included. Streams
//! replace the total bound on the body with an idle bound between chunks (the first-byte
//! timeout) and their own overall limit.

use bytes::Bytes;
use std::{error::Error as _, fmt, time::Duration};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to receiving the response's status and headers.
    pub first_byte: Duration,
    /// The whole attempt, body included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            first_byte: Duration::from_secs(30),
            total: Duration::from_secs(60),
        }
    }
}

/// Where in the exchange a timeout struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    FirstByte,
    Total,
    /// Between two chunks of a stream.
    Idle,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "while connecting",
            Self::FirstByte => "before answering",
            Self::Total => "for the whole response",
            Self::Idle => "between two parts of the stream",
        })
    }
}

/// A request that got no (complete) HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The request could not be built (a bad URL or header); nothing was sent.
    #[error("the request could not be built: {detail}")]
    Invalid { detail: String },
    /// No connection could be made, so nothing was sent.
    #[error("cannot connect: {detail}")]
    Connect { detail: String },
    /// No (complete) answer in time; the server may have received the request.
    #[error("no answer {phase} (after {}ms)", after.as_millis())]
    Timeout { phase: Phase, after: Duration },
    /// The connection broke after the request started; the server may have received it.
    #[error("the connection broke: {detail}")]
    Broken { detail: String },
}

impl TransportError {
    /// Whether the server may have received the request.
    pub fn may_have_been_received(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Broken { .. })
    }

    fn from_reqwest(err: &reqwest::Error, timeouts: &Timeouts) -> Self {
        let detail = describe(err);
        if err.is_builder() {
            Self::Invalid { detail }
        } else if err.is_connect() {
            if err.is_timeout() {
                Self::Timeout {
                    phase: Phase::Connect,
                    after: timeouts.connect,
                }
            } else {
                Self::Connect { detail }
            }
        } else {
            Self::Broken { detail }
        }
    }
}

/// A reqwest error with its causes, which reqwest's own message leaves out.
pub fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A client for one service: rustls, the connect timeout, our user agent.
pub fn client(timeouts: &Timeouts, user_agent: &str) -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .user_agent(user_agent)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| TransportError::Invalid {
            detail: describe(&e),
        })
}

/// The deadline of one attempt that starts now.
pub fn deadline(timeouts: &Timeouts) -> Instant {
    Instant::now() + timeouts.total
}

/// Sends `request` and waits for the response head, within the first-byte timeout and the
/// attempt's `deadline`.
pub async fn send(
    request: reqwest::RequestBuilder,
    timeouts: &Timeouts,
    deadline: Instant,
) -> Result<reqwest::Response, TransportError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let (limit, phase) = if timeouts.first_byte <= left {
        (timeouts.first_byte, Phase::FirstByte)
    } else {
        (left, Phase::Total)
    };
    match tokio::time::timeout(limit, request.send()).await {
        Err(_) => Err(TransportError::Timeout {
            phase,
            after: limit,
        }),
        Ok(Err(err)) => Err(TransportError::from_reqwest(&err, timeouts)),
        Ok(Ok(response)) => Ok(response),
    }
}

/// Reads the whole body before the attempt's `deadline`.
pub async fn read_body(
    response: reqwest::Response,
    timeouts: &Timeouts,
    deadline: Instant,
) -> Result<Bytes, TransportError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, response.bytes()).await {
        Err(_) => Err(TransportError::Timeout {
            phase: Phase::Total,
            after: timeouts.total,
        }),
        Ok(Err(err)) => Err(TransportError::Broken {
            detail: describe(&err),
        }),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// The `Retry-After` of a response, if it has a readable one.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::parse_retry_after)
}

/// At most `max` characters of a body, for error messages.
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}
