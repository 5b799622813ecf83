//! `ApiJson<T>`: a JSON body extractor whose rejections are problems naming the offending
//! field (axum's own `Json` only says that deserialization failed somewhere).

use crate::error::ApiError;
use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use faro_types::FieldError;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&request) {
            return Err(not_json());
        }
        parse(&bytes(request, state).await?).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty body (with any or no `Content-Type`) is
/// `T::default()`; any other body is read as [`ApiJson`] reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json(&request);
        let bytes = bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !is_json {
            return Err(not_json());
        }
        parse(&bytes).map(OptionalJson)
    }
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

fn not_json() -> ApiError {
    ApiError::UnsupportedMediaType(
        "Send the body as JSON with `Content-Type: application/json`.".into(),
    )
}

async fn bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })
}

/// Deserializes `bytes`, turning serde's error into the field it is about.
///
/// Every body of this API is a JSON object: serde would also read a struct from an array of
/// its fields in order (`[null, null]` as `{"name": null, "production": null}`), which the
/// document (`type: object`) does not allow, so an array is refused before serde sees it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(field_error(
            ".",
            "invalid type: sequence, expected a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest(format!(
                "The body is not valid JSON (line {}, column {}).",
                inner.line(),
                inner.column()
            ));
        }
        let message = inner.to_string();
        field_error(&path, strip_position(&message))
    })?;
    deserializer.end().map_err(|_| {
        ApiError::BadRequest("The body has trailing characters after the JSON value.".into())
    })?;
    Ok(value)
}

/// A 422 for the field at `path` (serde_path_to_error's notation) that `message` is about.
pub(super) fn field_error(path: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError {
        field: field_name(path, message),
        message: message.to_owned(),
    }])
}

/// serde reports a missing field at its parent's path, naming the field in backticks; the
/// client wants the field itself.
fn field_name(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let parent = if path == "." { "" } else { path };
    match (named, parent) {
        // serde_path_to_error already descends into an unknown field's name.
        (Some(name), parent) if parent == name || parent.ends_with(&format!(".{name}")) => {
            parent.to_owned()
        }
        (Some(name), "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "") => "body".to_owned(),
        (None, parent) => parent.to_owned(),
    }
}

/// Drops serde_json's " at line 1 column 12" suffix: positions mean nothing next to a field.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |idx| &message[..idx])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Release {
        branch: String,
        build: Build,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Build {
        retries: u8,
    }

    fn field_of(body: &str) -> (String, String) {
        match parse::<Release>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => {
                (errors[0].field.clone(), errors[0].message.clone())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_wrong_field() {
        assert_eq!(
            field_of(r#"{"branch": 1, "build": {"retries": 1}}"#).0,
            "branch"
        );
        assert_eq!(
            field_of(r#"{"branch": "main", "build": {"retries": 300}}"#).0,
            "build.retries"
        );
        assert_eq!(field_of(r#"{"build": {"retries": 1}}"#).0, "branch");
        assert_eq!(
            field_of(r#"{"branch": "x", "build": {}}"#).0,
            "build.retries"
        );
        let (field, message) =
            field_of(r#"{"branch": "x", "build": {"retries": 1}, "admin": true}"#);
        assert_eq!(field, "admin");
        assert!(message.starts_with("unknown field `admin`"), "{message}");
        assert!(!message.contains("line"), "{message}");
        assert_eq!(field_of("[]").0, "body");
        // An array of the fields in order would otherwise pass for the struct.
        assert_eq!(
            field_of(r#" ["main", {"retries": 1}]"#).0,
            "body",
            "an array is not an object"
        );
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        assert!(matches!(
            parse::<Release>(b"{\"branch\": "),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Release>(b"nope"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Release>(br#"{"branch":"m","build":{"retries":1}} x"#),
            Err(ApiError::BadRequest(_))
        ));
    }
}
