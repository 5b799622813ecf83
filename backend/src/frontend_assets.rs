//! Serving the built frontend (`FARO_FRONTEND_DIR`, normally `frontend/dist`) from the API's
//! own origin, as `cargo xtask dev` and the end-to-end tests do: one origin, no CORS.
//!
//! A GET outside `/api/` answers the file at that path when there is one; otherwise, unless
//! the path names a file (its last segment has an extension), it answers `index.html`, so deep
//! links such as `/releases/42` load the app, whose router takes over. `/api/...` paths never
//! fall back to the app: an unknown API path stays a 404 problem. Hashed files under
//! `assets/` are cached for a year; everything else (`index.html`, `config.json`) is
//! revalidated on every load, so a new build shows at once.
//!
//! Every answer carries the app's Content-Security-Policy and hardening headers, from the
//! definition Amplify's `customHttp.yml` is written from (`faro-app-headers`), with the API on
//! this same origin: the policy the end-to-end tests run under is the one that ships.

use crate::{AppState, error::ApiError};
use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use faro_app_headers::{AppHeaders, Transport};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

#[derive(Debug)]
struct Assets {
    dir: PathBuf,
    index: PathBuf,
    /// The app's security headers, on every answer.
    headers: HeaderMap,
}

/// The app's headers with the API on this origin, over plain HTTP (no HSTS: `cargo xtask dev`
/// and the tests serve `http://127.0.0.1`).
fn app_headers() -> HeaderMap {
    AppHeaders::same_origin()
        .headers(Transport::Http)
        .into_iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
            let value = HeaderValue::from_str(&value).expect("a valid header value");
            (name, value)
        })
        .collect()
}

/// The routes serving `dir`: `/` and every path no API route claims.
pub fn routes(dir: &Path) -> Router<AppState> {
    let assets = Arc::new(Assets {
        dir: dir.to_path_buf(),
        index: dir.join("index.html"),
        headers: app_headers(),
    });
    let serve = move |request: Request| {
        let assets = assets.clone();
        async move { assets.serve(request).await }
    };
    // Other methods keep the API's answer to unknown routes (404), not a 405.
    let not_found = || async { ApiError::NotFound };
    Router::new()
        .route("/", get(serve.clone()).fallback(not_found))
        .route("/{*path}", get(serve).fallback(not_found))
}

/// Whether the path's last segment looks like a file name (`app-1a2b.css`, `config.json`).
fn names_a_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

impl Assets {
    async fn serve(&self, request: Request) -> Response {
        let path = request.uri().path().to_owned();
        if path == "/api" || path.starts_with("/api/") {
            return ApiError::NotFound.into_response();
        }
        let method = request.method().clone();
        let headers = request.headers().clone();
        let response = match ServeDir::new(&self.dir).oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        let response = if response.status() == StatusCode::NOT_FOUND && !names_a_file(&path) {
            // A route of the app: the app itself, whose router shows the page.
            let mut index = Request::new(Body::empty());
            *index.method_mut() = method;
            *index.headers_mut() = headers;
            match ServeFile::new(&self.index).oneshot(index).await {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            }
        } else {
            response
        };
        let mut response = with_cache_policy(&path, response);
        response.headers_mut().extend(self.headers.clone());
        response
    }
}

fn with_cache_policy(path: &str, mut response: Response) -> Response {
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let policy = if path.starts_with("/assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_told_from_app_routes() {
        for file in ["/assets/faro-1a2b.js", "/config.json", "/favicon.ico"] {
            assert!(names_a_file(file), "{file}");
        }
        for route in [
            "/",
            "/releases/42",
            "/projects/shop-api/settings",
            "/sign-in",
        ] {
            assert!(!names_a_file(route), "{route}");
        }
    }
}
