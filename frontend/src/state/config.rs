//! `/config.json`: what the one build needs to know about the environment serving it.
//!
//! The same `dist/` serves dev, staging and production; whoever serves it writes this file
//! (`cargo xtask dev`, the deploy, Amplify CI), so nothing environment-specific is compiled in.

use serde::Deserialize;

/// Where the app reads its configuration, on its own origin.
pub const PATH: &str = "/config.json";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("/config.json is not valid JSON with api_base_url and environment: {0}")]
    Malformed(String),
    #[error(
        "api_base_url in /config.json must be empty (this origin) or an http(s) URL, not {0:?}"
    )]
    BadBaseUrl(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    api_base_url: String,
    environment: String,
}

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Without a trailing slash; empty when the API is on the app's own origin.
    pub api_base_url: String,
    /// Shown in the header (`dev`, `staging`…); empty shows nothing.
    pub environment: String,
}

impl RuntimeConfig {
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let raw: Raw =
            serde_json::from_str(json).map_err(|e| ConfigError::Malformed(e.to_string()))?;
        let base = raw.api_base_url.trim().trim_end_matches('/').to_owned();
        let valid = base.is_empty()
            || ((base.starts_with("https://") || base.starts_with("http://"))
                && !base.contains(char::is_whitespace)
                && base
                    .split_once("://")
                    .is_some_and(|(_, rest)| !rest.is_empty()));
        if !valid {
            return Err(ConfigError::BadBaseUrl(raw.api_base_url));
        }
        Ok(Self {
            api_base_url: base,
            environment: raw.environment.trim().to_owned(),
        })
    }

    /// The URL of an API path such as `/api/me`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base_url)
    }

    /// Production shows no badge: the badge is there to tell other environments apart.
    pub fn badge(&self) -> Option<&str> {
        (!self.environment.is_empty() && self.environment != "production")
            .then_some(self.environment.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_and_remote_apis() {
        let local = RuntimeConfig::parse(r#"{"api_base_url": "", "environment": "dev"}"#).unwrap();
        assert_eq!(local.url("/api/me"), "/api/me");
        assert_eq!(local.badge(), Some("dev"));

        let remote = RuntimeConfig::parse(
            r#"{"api_base_url": "https://api.faro.example/", "environment": "production"}"#,
        )
        .unwrap();
        assert_eq!(remote.url("/api/me"), "https://api.faro.example/api/me");
        assert_eq!(remote.badge(), None);
    }

    #[test]
    fn rejects_what_would_send_requests_astray() {
        for bad in [
            r#"{"api_base_url": "api.faro.example", "environment": "x"}"#,
            r#"{"api_base_url": "ftp://x", "environment": "x"}"#,
            r#"{"api_base_url": "https://", "environment": "x"}"#,
        ] {
            assert!(
                matches!(RuntimeConfig::parse(bad), Err(ConfigError::BadBaseUrl(_))),
                "{bad}"
            );
        }
        for bad in [
            "",
            "<html>",
            r#"{"environment": "x"}"#,
            r#"{"api_base_url": "", "environment": "x", "extra": 1}"#,
        ] {
            assert!(
                matches!(RuntimeConfig::parse(bad), Err(ConfigError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
