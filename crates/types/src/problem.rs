//! Problem details for HTTP APIs (RFC 9457), the body of every error the API answers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The media type of a problem document.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable kinds of problem the API reports. The serialized `type` is a relative URI
/// (`/problems/<slug>`) that clients can match on; titles may change, slugs may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    TooManyRequests,
    Internal,
    ServiceUnavailable,
    GatewayTimeout,
    /// Any other status; clients should fall back on the HTTP status code.
    Other,
}

impl ProblemType {
    const ALL: [ProblemType; 15] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::TooManyRequests,
        Self::Internal,
        Self::ServiceUnavailable,
        Self::GatewayTimeout,
        Self::Other,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::RequestTimeout => "request-timeout",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Validation => "validation",
            Self::TooManyRequests => "too-many-requests",
            Self::Internal => "internal",
            Self::ServiceUnavailable => "service-unavailable",
            Self::GatewayTimeout => "gateway-timeout",
            Self::Other => "other",
        }
    }

    /// The `type` URI as serialized.
    pub fn uri(self) -> String {
        format!("/problems/{}", self.slug())
    }

    pub fn from_uri(uri: &str) -> Self {
        let slug = uri.strip_prefix("/problems/").unwrap_or(uri);
        Self::ALL
            .into_iter()
            .find(|t| t.slug() == slug)
            .unwrap_or(Self::Other)
    }

    /// The problem type that belongs to an HTTP status code.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Validation,
            429 => Self::TooManyRequests,
            503 => Self::ServiceUnavailable,
            504 => Self::GatewayTimeout,
            500..=599 => Self::Internal,
            _ => Self::Other,
        }
    }
}

/// One invalid input field: `field` is a dotted path into the JSON body (`environment.name`,
/// `items[2].sha`) or the name of a header or query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The field that was wrong, when exactly one was (the first of `errors` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The id of the request, to quote when reporting the problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(kind: ProblemType, status: u16, title: impl Into<String>) -> Self {
        Self {
            type_uri: kind.uri(),
            title: title.into(),
            status,
            detail: None,
            instance: None,
            field: None,
            errors: Vec::new(),
            request_id: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an invalid field; the first one added also becomes `field`.
    pub fn with_field_error(
        mut self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let error = FieldError {
            field: field.into(),
            message: message.into(),
        };
        if self.field.is_none() {
            self.field = Some(error.field.clone());
        }
        self.errors.push(error);
        self
    }

    pub fn kind(&self) -> ProblemType {
        ProblemType::from_uri(&self.type_uri)
    }

    /// The message for `field`, if that field was reported invalid.
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_uris_round_trip() {
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::from_uri(&kind.uri()), kind);
        }
        assert_eq!(
            ProblemType::from_uri("/problems/nonsense"),
            ProblemType::Other
        );
    }

    #[test]
    fn serializes_rfc9457_members_and_omits_empty_ones() {
        let p = Problem::new(ProblemType::Validation, 422, "Invalid input")
            .with_field_error("email", "must contain @")
            .with_field_error("name", "must not be empty");
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(json["type"], "/problems/validation");
        assert_eq!(json["status"], 422);
        assert_eq!(json["field"], "email");
        assert_eq!(json["errors"][1]["field"], "name");
        assert!(json.get("detail").is_none());
        assert_eq!(p.error_for("name"), Some("must not be empty"));

        let back: Problem = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, p);
        assert_eq!(back.kind(), ProblemType::Validation);
    }

    #[test]
    fn status_codes_map_to_types() {
        assert_eq!(ProblemType::for_status(413), ProblemType::PayloadTooLarge);
        assert_eq!(ProblemType::for_status(502), ProblemType::Internal);
        assert_eq!(ProblemType::for_status(418), ProblemType::Other);
    }
}
