//! The API's error type: every failure a handler can report, answered as
//! `application/problem+json` (RFC 9457) by [`crate::http::problem_layer`].

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use faro_types::{FieldError, Problem, ProblemType};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("not signed in")]
    Unauthorized,
    /// Signed in but not allowed; `field` names an input field the caller may not set.
    #[error("forbidden: {detail}")]
    Forbidden {
        detail: String,
        field: Option<String>,
    },
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        field: Option<String>,
    },
    #[error("too many requests")]
    TooManyRequests { retry_after: Duration },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("{what} is unavailable: {detail}")]
    Unavailable {
        what: &'static str,
        detail: String,
        retry_after: Duration,
    },
    /// This task cannot serve yet for a `reason` that is safe to show (readiness: the schema
    /// is behind the binary), unlike [`Self::Unavailable`]'s detail.
    #[error("not ready: {reason}")]
    NotReady {
        reason: String,
        retry_after: Duration,
    },
    /// This task is at one of its own bounds (requests in flight, password hashing, waiting
    /// sign-ins, streams, AI calls): nothing failed, so nothing is logged beyond the access
    /// log's 503, which keeps a flood from doubling the log volume.
    #[error("{what} is at capacity")]
    Busy {
        what: &'static str,
        retry_after: Duration,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden {
            detail: detail.into(),
            field: None,
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            field: None,
        }
    }

    /// DynamoDB failed (after the SDK's own bounded retries): the caller may retry shortly.
    pub fn dynamo<E: std::fmt::Display>(err: E) -> Self {
        Self::Unavailable {
            what: "DynamoDB",
            detail: err.to_string(),
            retry_after: Duration::from_secs(2),
        }
    }

    /// A refusal the document cannot express: the input `field` is well formed but names
    /// something that does not exist (for the caller) or does not fit the current state. A
    /// 409, unlike a 422, so a client (and schemathesis) can tell it from input the schema
    /// calls invalid.
    pub fn conflict_on(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } | Self::NotReady { .. } | Self::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let kind = ProblemType::for_status(status.as_u16());
        let problem = Problem::new(kind, status.as_u16(), title_for(status));
        match self {
            Self::NotFound => problem.with_detail("No resource exists at this URL."),
            Self::Unauthorized => problem.with_detail(
                "Sign in first: send the session cookie or `Authorization: Bearer <token>`.",
            ),
            Self::Forbidden { detail, field } | Self::Conflict { detail, field } => {
                let problem = problem.with_detail(detail.clone());
                match field {
                    Some(field) => problem.with_field_error(field.clone(), detail.clone()),
                    None => problem,
                }
            }
            Self::TooManyRequests { retry_after } => problem.with_detail(format!(
                "Too many attempts; try again in {} seconds.",
                retry_after.as_secs().max(1)
            )),
            Self::BadRequest(detail) => problem.with_detail(detail.clone()),
            Self::Validation(errors) => errors.iter().fold(
                problem.with_detail("One or more fields are invalid."),
                |p, e| p.with_field_error(e.field.clone(), e.message.clone()),
            ),
            Self::UnsupportedMediaType(detail) => problem
                .with_detail(detail.clone())
                .with_field_error("content-type", detail.clone()),
            Self::PayloadTooLarge => {
                problem.with_detail("The request body is larger than this API accepts.")
            }
            Self::Unavailable { what, .. } => {
                problem.with_detail(format!("{what} is unavailable; try again shortly."))
            }
            Self::NotReady { reason, .. } => problem.with_detail(reason.clone()),
            Self::Busy { what, .. } => problem.with_detail(format!(
                "{what} is as busy as it may be on this instance; try again shortly."
            )),
            // Internal details go to the log, never to the client.
            Self::Internal(_) => problem.with_detail(
                "Something went wrong on our side; quote the request id when reporting it.",
            ),
        }
    }
}

/// The human title for a status, shared with problems synthesized from bare error statuses.
pub fn title_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNPROCESSABLE_ENTITY => "Invalid input",
        StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
        StatusCode::INTERNAL_SERVER_ERROR => "Internal server error",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

/// Carried in the response extensions from a handler to the problem layer, which renders it
/// once with the request id filled in.
#[derive(Debug, Clone)]
pub struct ProblemExt(pub Problem);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            Self::Unavailable { what, detail, .. } => {
                tracing::warn!(dependency = what, error = %detail, "dependency unavailable")
            }
            _ => {}
        }
        let mut response = (self.status(), ProblemExt(self.to_problem())).into_response();
        if matches!(&self, Self::Unavailable { detail, .. } if detail == crate::db::CREDENTIALS_REFUSED)
        {
            response
                .extensions_mut()
                .insert(crate::db::credentials::Refused);
        }
        match self {
            Self::Unavailable { retry_after, .. }
            | Self::NotReady { retry_after, .. }
            | Self::Busy { retry_after, .. }
            | Self::TooManyRequests { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Self::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"faro\""),
                );
            }
            _ => {}
        }
        response
    }
}

impl IntoResponse for ProblemExt {
    fn into_response(self) -> Response {
        let mut response = StatusCode::from_u16(self.0.status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

/// What a transaction InnoDB rolled back for a lock conflict answers.
const LOCK_CONFLICT: &str = "a concurrent change got in the way; nothing was written";

impl ApiError {
    /// Whether InnoDB rolled the transaction back for a lock conflict (nothing was written,
    /// and running it again may well succeed).
    pub fn is_lock_conflict(&self) -> bool {
        matches!(self, Self::Unavailable { detail, .. } if detail == LOCK_CONFLICT)
    }
}

/// A deadlock (SQLSTATE 40001) or a lock wait that ran out (MySQL error 1205).
fn is_lock_conflict(err: &dyn sqlx::error::DatabaseError) -> bool {
    err.code().as_deref() == Some("40001") || err.message().starts_with("Lock wait timeout")
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // Down, out of connections, a TLS handshake MySQL's certificate fails, or refusing
            // credentials that a rotation changed: the pool reads them again
            // ([`crate::db::credentials`]), so this passes.
            ref err if crate::db::is_unreachable(err) || matches!(err, sqlx::Error::PoolClosed) => {
                Self::Unavailable {
                    what: "The database",
                    detail: crate::db::describe(err),
                    retry_after: Duration::from_secs(2),
                }
            }
            // A deadlock (SQLSTATE 40001, MySQL 1213) or a lock wait that ran out (1205):
            // InnoDB rolled the transaction back, nothing was written; the request may simply
            // be sent again.
            sqlx::Error::Database(ref db) if is_lock_conflict(db.as_ref()) => Self::Unavailable {
                what: "The database",
                detail: LOCK_CONFLICT.into(),
                retry_after: Duration::from_secs(1),
            },
            other => Self::Internal(other.to_string()),
        }
    }
}
