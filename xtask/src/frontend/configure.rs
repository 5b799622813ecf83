//! `cargo xtask frontend configure --api-base-url URL --environment NAME`: what one
//! environment's app needs beside the build, both from where its API is.
//!
//! - `frontend/dist/config.json`, which the app reads before it mounts;
//! - `customHttp.yml` at the workspace's root, where Amplify CI reads its custom headers: the
//!   app's Content-Security-Policy (with the API's origin in `connect-src`) and hardening
//!   headers, from `faro-app-headers`, which the backend also serves in dev and the tests.
//!
//! Amplify CI runs it after the build (amplify.yml); `cargo xtask deploy` puts the same file
//! into the bundle of a manual deployment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use faro_app_headers::AppHeaders;

use super::{DIST, Error, assets, write_config};
use crate::workspace::Workspace;

/// Amplify Hosting's file of custom headers, at the root of the repository.
pub const CUSTOM_HTTP: &str = "customHttp.yml";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configure {
    /// The API's base URL, as the app's `config.json` has it (empty: the app's own origin).
    pub api_base_url: String,
    /// The environment's name the app shows.
    pub environment: String,
}

/// `cargo xtask frontend configure`.
pub fn run(options: &Configure) -> Result<ExitCode, Error> {
    let ws = Workspace::locate();
    let written = configure(&ws.root, options)?;
    for path in written {
        eprintln!("xtask: wrote {}", ws.display(&path));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `config.json` into the build and `customHttp.yml` beside the workspace's files;
/// returns both paths. Nothing is written for a base URL that names no origin.
pub fn configure(root: &Path, options: &Configure) -> Result<Vec<PathBuf>, Error> {
    let headers =
        AppHeaders::for_api(&options.api_base_url).map_err(|e| Error::ApiBaseUrl(e.to_string()))?;
    let dist = root.join(DIST);
    write_config(&dist, &options.api_base_url, &options.environment)?;
    let custom_http = root.join(CUSTOM_HTTP);
    assets::write_atomic(&custom_http, headers.amplify_custom_http().as_bytes())?;
    Ok(vec![dist.join("config.json"), custom_http])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::yaml::parse_template;
    use serde_json::Value;

    fn scratch(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    /// `customHttp.yml`'s headers for every path, as Amplify reads them.
    fn amplify_headers(root: &Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(root.join(CUSTOM_HTTP)).unwrap();
        let yaml = parse_template(&text).unwrap();
        let rules = yaml["customHeaders"].as_array().unwrap();
        assert_eq!(rules.len(), 1, "{text}");
        assert_eq!(rules[0]["pattern"], "**", "{text}");
        rules[0]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let text = |v: &Value| v.as_str().unwrap().to_owned();
                (text(&h["key"]), text(&h["value"]))
            })
            .collect()
    }

    #[test]
    fn amplify_gets_the_policy_with_the_environments_api_origin() {
        let root = scratch("configure");
        let options = Configure {
            api_base_url: "https://api.faro.example/".into(),
            environment: "staging".into(),
        };
        configure(&root, &options).unwrap();

        let headers = amplify_headers(&root);
        let value = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        };
        assert_eq!(
            value("Content-Security-Policy"),
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src 'self' https://api.faro.example; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
        );
        assert_eq!(value("X-Content-Type-Options"), "nosniff");
        assert_eq!(value("Referrer-Policy"), "same-origin");
        assert_eq!(value("X-Frame-Options"), "DENY");
        assert_eq!(
            value("Strict-Transport-Security"),
            "max-age=31536000; includeSubDomains"
        );

        // config.json names the same API, as the app reads it.
        let config: Value =
            serde_json::from_slice(&std::fs::read(root.join(DIST).join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["api_base_url"], "https://api.faro.example/");
        assert_eq!(config["environment"], "staging");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_base_url_that_names_no_origin_writes_nothing() {
        let root = scratch("configure-bad");
        let options = Configure {
            api_base_url: "api.faro.example".into(),
            environment: "staging".into(),
        };
        let err = configure(&root, &options).unwrap_err();
        assert!(err.to_string().contains("api.faro.example"), "{err}");
        assert!(!root.exists());
    }
}
