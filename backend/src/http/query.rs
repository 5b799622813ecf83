//! `ApiQuery<T>`: query-string parameters whose rejections are problems naming the parameter
//! (axum's own `Query` answers a bare 400).

use super::json::field_error;
use crate::error::ApiError;
use axum::{extract::FromRequestParts, http::request::Parts};
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        field_error(&path, &err.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filter {
        limit: Option<u32>,
        status: Option<String>,
    }

    fn field(query: &str) -> String {
        match parse::<Filter>(query) {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_parameter() {
        assert!(parse::<Filter>("limit=5&status=queued").is_ok());
        assert!(parse::<Filter>("").is_ok());
        assert_eq!(field("limit=many"), "limit");
        assert_eq!(field("limit=-1"), "limit");
        assert_eq!(field("colour=red"), "colour");
    }
}
