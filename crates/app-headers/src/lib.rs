//! The response headers of the Faro app's files: its Content-Security-Policy and the hardening
//! headers that go with it, defined once.
//!
//! The app is served two ways, and both take their headers from here, so the policy Chromium
//! checks in the end-to-end tests is the one that ships:
//! - by Amplify in AWS, from the `customHttp.yml` ([`AppHeaders::amplify_custom_http`]) that
//!   `cargo xtask frontend configure` (Amplify CI) and `cargo xtask deploy` (manual
//!   deployments) write with the environment's API origin, read from the same
//!   `FARO_API_BASE_URL` as the app's `config.json`;
//! - by the backend from its own origin (`FARO_FRONTEND_DIR`: `cargo xtask dev`, the
//!   end-to-end tests), with [`AppHeaders::same_origin`].
//!
//! To let the app reach one more origin, add it to the directive that governs it in
//! [`DIRECTIVES`] (and say why beside it): both ways of serving follow.

/// The policy's directives and their sources, in the order they are written. The API's origin
/// is added to `connect-src` when it is not the app's own.
pub const DIRECTIVES: &[(&str, &[&str])] = &[
    // Everything the directives below do not name is refused (fonts, frames, workers,
    // manifests, media).
    ("default-src", &["'none'"]),
    // The app's own files only: the bootstrap module, wasm-bindgen's glue and its snippets.
    // `'wasm-unsafe-eval'` lets WebAssembly compile the app; JavaScript is never evaluated
    // from strings, and no inline script runs (the bootstrap is a file of the build).
    ("script-src", &["'self'", "'wasm-unsafe-eval'"]),
    // The stylesheet of the build. Leptos sets no inline styles here (the app has no `style=`
    // attributes and renders through the DOM), so no 'unsafe-inline'.
    ("style-src", &["'self'"]),
    // The favicon is a data: URL in index.html; the charts are inline SVG elements.
    ("img-src", &["'self'", "data:"]),
    // config.json, the wasm, and the API (its origin follows when it is another one).
    ("connect-src", &["'self'"]),
    ("base-uri", &["'none'"]),
    ("form-action", &["'self'"]),
    // Never in a frame: no clickjacking of the release buttons.
    ("frame-ancestors", &["'none'"]),
    ("object-src", &["'none'"]),
];

/// HSTS: a year, subdomains included (only ever sent over HTTPS).
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// How the app reaches the browser: HSTS is only meaningful (and only sent) over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    Https,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the API's base URL `{url}` is not a URL: {reason}")]
    Malformed { url: String, reason: String },
    #[error("the API's base URL `{0}` must be an http or https URL without user or password")]
    NotAnOrigin(String),
}

/// The headers of the app for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHeaders {
    /// The API's origin when it is not the app's own (`https://api.example.com`).
    api_origin: Option<String>,
}

impl AppHeaders {
    /// The app and its API on one origin, as the backend serves them.
    pub fn same_origin() -> Self {
        Self { api_origin: None }
    }

    /// For an app whose `config.json` says `api_base_url` (empty: the app's own origin). Only
    /// the URL's origin counts: a path (`https://api.example.com/v1/`) is not part of it.
    pub fn for_api(api_base_url: &str) -> Result<Self, Error> {
        if api_base_url.is_empty() {
            return Ok(Self::same_origin());
        }
        let url = url::Url::parse(api_base_url).map_err(|e| Error::Malformed {
            url: api_base_url.to_owned(),
            reason: e.to_string(),
        })?;
        let web = matches!(url.scheme(), "http" | "https");
        if !web || !url.username().is_empty() || url.password().is_some() {
            return Err(Error::NotAnOrigin(api_base_url.to_owned()));
        }
        Ok(Self {
            api_origin: Some(url.origin().ascii_serialization()),
        })
    }

    /// `Content-Security-Policy`'s value: [`DIRECTIVES`], `; `-separated.
    pub fn content_security_policy(&self) -> String {
        DIRECTIVES
            .iter()
            .map(|(directive, sources)| {
                let extra = match (*directive, &self.api_origin) {
                    ("connect-src", Some(origin)) => Some(origin.as_str()),
                    _ => None,
                };
                let sources: Vec<&str> = sources.iter().copied().chain(extra).collect();
                format!("{directive} {}", sources.join(" "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Every header of the app's files, names as browsers' tools show them.
    pub fn headers(&self, transport: Transport) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Security-Policy", self.content_security_policy()),
            ("X-Content-Type-Options", "nosniff".to_owned()),
            // The app's addresses hold invitation tokens (`/invitations/{token}`): they never
            // leave its origin. Not `no-referrer`: that also turns a same-origin POST's
            // `Origin` into `null` (Fetch, "append a request Origin header"), which the API
            // refuses on cookie-authenticated writes when it serves the app itself.
            ("Referrer-Policy", "same-origin".to_owned()),
            // frame-ancestors' older twin, for browsers without CSP level 2.
            ("X-Frame-Options", "DENY".to_owned()),
        ];
        if transport == Transport::Https {
            headers.push((
                "Strict-Transport-Security",
                STRICT_TRANSPORT_SECURITY.to_owned(),
            ));
        }
        headers
    }

    /// Amplify Hosting's `customHttp.yml`: the headers over HTTPS on every path. Each
    /// scalar is written as a JSON string, which is a YAML double-quoted scalar, so no value
    /// (the policy's quotes, an origin) can break the document.
    pub fn amplify_custom_http(&self) -> String {
        let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut yaml = String::from(
            "# Amplify Hosting's headers of the Faro app, written for one environment by\n\
             # `cargo xtask frontend configure` or `cargo xtask deploy` from crates/app-headers:\n\
             # edit the policy there, not here.\n\
             customHeaders:\n  - pattern: \"**\"\n    headers:\n",
        );
        for (key, value) in self.headers(Transport::Https) {
            yaml.push_str(&format!(
                "      - key: {}\n        value: {}\n",
                quoted(key),
                quoted(&value)
            ));
        }
        yaml
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAME_ORIGIN: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
        style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
        form-action 'self'; frame-ancestors 'none'; object-src 'none'";

    #[test]
    fn the_same_origin_policy_allows_the_apps_own_files_and_wasm_only() {
        assert_eq!(
            AppHeaders::same_origin().content_security_policy(),
            SAME_ORIGIN
        );
        assert_eq!(AppHeaders::for_api(""), Ok(AppHeaders::same_origin()));
    }

    #[test]
    fn the_apis_origin_joins_connect_src_and_nothing_else() {
        for url in [
            "https://api.faro.dev",
            "https://api.faro.dev/",
            "https://api.faro.dev:443/v1/",
        ] {
            let policy = AppHeaders::for_api(url).unwrap().content_security_policy();
            assert_eq!(
                policy,
                SAME_ORIGIN.replace(
                    "connect-src 'self'",
                    "connect-src 'self' https://api.faro.dev"
                ),
                "{url}"
            );
        }
        let local = AppHeaders::for_api("http://127.0.0.1:8080/").unwrap();
        assert!(
            local
                .content_security_policy()
                .contains("connect-src 'self' http://127.0.0.1:8080;")
        );
    }

    #[test]
    fn base_urls_that_name_no_web_origin_are_refused() {
        for url in ["api.faro.dev", "https://"] {
            assert!(
                matches!(AppHeaders::for_api(url), Err(Error::Malformed { .. })),
                "{url}"
            );
        }
        for url in [
            "ftp://api.faro.dev",
            "javascript:alert(1)",
            "data:text/plain,x",
            "https://user:secret@api.faro.dev",
        ] {
            assert_eq!(
                AppHeaders::for_api(url),
                Err(Error::NotAnOrigin(url.into())),
                "{url}"
            );
        }
    }

    #[test]
    fn hsts_is_sent_over_https_only() {
        let names = |t| -> Vec<&str> {
            AppHeaders::same_origin()
                .headers(t)
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(
            names(Transport::Http),
            [
                "Content-Security-Policy",
                "X-Content-Type-Options",
                "Referrer-Policy",
                "X-Frame-Options"
            ]
        );
        assert_eq!(
            names(Transport::Https).last(),
            Some(&"Strict-Transport-Security")
        );
    }
}
