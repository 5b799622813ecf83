//! The app served from the API's own origin (`FARO_FRONTEND_DIR`), under its security headers.

use faro_app_headers::AppHeaders;
use faro_testkit::{TestApp, header};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A build in miniature: the app's page, a hashed asset and a `config.json`.
fn a_build(name: &str) -> PathBuf {
    let dist = std::env::temp_dir().join(format!("faro-api-frontend-{name}"));
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(dist.join("assets")).expect("create the build");
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>Faro</title>",
    )
    .expect("write index.html");
    std::fs::write(dist.join("assets/boot-1a2b.js"), "export {};").expect("write an asset");
    dist
}

/// The policy's directives and their sources.
fn directives(policy: &str) -> BTreeMap<&str, Vec<&str>> {
    policy
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace();
            Some((words.next()?, words.collect()))
        })
        .collect()
}

#[tokio::test]
async fn the_app_is_served_under_its_content_security_policy_and_hardening_headers() {
    let dist = a_build("csp");
    let app = TestApp::builder().frontend(&dist).spawn().await;
    let policy = AppHeaders::same_origin().content_security_policy();
    for path in ["/", "/releases/42", "/assets/boot-1a2b.js", "/config.json"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-security-policy").as_deref(),
            Some(policy.as_str()),
            "{path}"
        );
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(header(&response, name).as_deref(), Some(value), "{path}");
        }
        // Served over plain HTTP: HSTS there would mean nothing.
        assert_eq!(header(&response, "strict-transport-security"), None);
    }

    // Read directive by directive, the policy is the strict one, not a weaker look-alike.
    let served = directives(&policy);
    assert_eq!(served["default-src"], ["'none'"]);
    assert_eq!(served["script-src"], ["'self'", "'wasm-unsafe-eval'"]);
    assert_eq!(served["style-src"], ["'self'"]);
    assert_eq!(served["connect-src"], ["'self'"]);
    assert_eq!(served["frame-ancestors"], ["'none'"]);
    assert_eq!(served["object-src"], ["'none'"]);
    assert_eq!(served["base-uri"], ["'none'"]);
    assert_eq!(served["form-action"], ["'self'"]);
    for weak in ["'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"] {
        assert!(
            !served.values().flatten().any(|source| *source == weak),
            "{weak} in {policy}"
        );
    }
    let _ = std::fs::remove_dir_all(&dist);
}
