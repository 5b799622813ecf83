//! Request forgery: the browser attaches the session cookie to any request for the API, also
//! to one a page of another origin makes. `SameSite=Lax` keeps other sites' POSTs from
//! carrying it, but not those of another origin of the same site (a sibling subdomain such as
//! `evil.<domain>` next to `app.<domain>`). So a request with an unsafe method signed in by
//! the cookie must say, in `Origin` (which a page cannot forge), that it comes from the app:
//! one of `FARO_CORS_ORIGINS`, or, when this backend serves the app itself (`cargo xtask dev`,
//! the browser tests), the backend's own origin. Scripts that are not browsers sign in with
//! `Authorization: Bearer`, which no page can make a browser send to another origin unasked.

use crate::{config::Config, error::ApiError};
use axum::http::{header, request::Parts};

/// Refuses the request unless its `Origin` is one of the app's.
pub(super) fn check(parts: &Parts, config: &Config) -> Result<(), ApiError> {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return Err(refused(
            "A request signed in with the session cookie must come from the app, and this \
             one has no Origin header; send `Authorization: Bearer <token>` instead from \
             scripts.",
        ));
    };
    let origin = origin.to_str().unwrap_or_default();
    let listed = config
        .http
        .cors_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin));
    if listed || (config.frontend_dir.is_some() && same_origin(parts, origin)) {
        return Ok(());
    }
    Err(refused(
        "A request signed in with the session cookie must come from the app, and this one \
         comes from another origin; send `Authorization: Bearer <token>` instead from scripts.",
    ))
}

/// Whether `origin` is this backend's own, as the request addressed it (`Host`). Only when the
/// backend serves the app: its pages then call the API on their own origin. The scheme is
/// not compared: a TLS proxy in front would make it differ.
fn same_origin(parts: &Parts, origin: &str) -> bool {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, authority), (Some(host), Some(authority)) if !host.is_empty() && host.eq_ignore_ascii_case(authority))
}

fn refused(detail: &str) -> ApiError {
    ApiError::Forbidden {
        detail: detail.to_owned(),
        field: Some("origin".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::post("/api/auth/logout");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn the_own_origin_is_the_host_the_request_addressed() {
        let same = parts(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(same_origin(&same, "http://127.0.0.1:8080"));
        let other_port = parts(&[("host", "127.0.0.1:8080")]);
        assert!(!same_origin(&other_port, "http://127.0.0.1:9090"));
        let sibling = parts(&[("host", "api.example.com")]);
        assert!(!same_origin(&sibling, "https://evil.example.com"));
        assert!(!same_origin(&sibling, "null"));
        assert!(!same_origin(&parts(&[]), "http://"));
    }
}
