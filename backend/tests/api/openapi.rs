//! The OpenAPI document and the router describe the same API.

use faro_testkit::{TestApp, expect_json};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A concrete URL for a templated path: every `{param}` becomes a value of the right shape.
fn concrete(path: &str) -> String {
    path.replace("{slug}", "no-such-project")
        .replace("{name}", "no-such-env")
        .replace("{user_id}", "999999")
        .replace("{id}", "999999")
}

#[tokio::test]
async fn documented_routes_and_methods_are_exactly_the_served_ones() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());

    for (path, item) in paths {
        let url = app.url(&concrete(path));
        for method in METHODS {
            let documented = item.get(method).is_some();
            let response = app
                .client
                .request(method.to_uppercase().parse().expect("method"), &url)
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            if documented {
                let op = &item[method];
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
                assert!(op["operationId"].is_string(), "{method} {path}");
                // Routed: a handler answered (its 401 or 404 for an unknown object is fine).
                // A path the router lacks entirely would answer the fallback's 404 to every
                // method, which the undocumented-method branch below catches.
                assert_ne!(status, 405, "{method} {path} is documented but not routed");
            } else {
                // The path is routed (so the wrong method is 405, not the 404 fallback), and
                // a method the document does not list is not served.
                assert_eq!(
                    status, 405,
                    "{method} {path} is not documented but answered {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn undocumented_paths_fall_through_to_404() {
    let app = TestApp::spawn().await;
    for path in ["/api/projectz", "/api/releases/1/nope", "/api"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn every_operation_but_liveness_documents_the_503_of_load_shedding() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let documented = operation["responses"].get("503").is_some();
            // Probes are never shed; readiness answers 503 of its own when not ready.
            let expected = path != "/healthz";
            assert_eq!(documented, expected, "503 under {method} {path}");
        }
    }
}

#[tokio::test]
async fn the_document_states_the_rules_the_server_checks() {
    use faro_types::validate::{PASSWORD, SLUG};
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let schemas = &doc["components"]["schemas"];
    let slug = &schemas["CreateProject"]["properties"]["slug"];
    assert_eq!(slug["minLength"], SLUG.min_length, "{slug}");
    assert_eq!(slug["maxLength"], SLUG.max_length, "{slug}");
    assert_eq!(slug["pattern"], SLUG.pattern.expect("a pattern"), "{slug}");
    let password = &schemas["SignupRequest"]["properties"]["password"];
    assert_eq!(password["minLength"], PASSWORD.min_length, "{password}");
    assert_eq!(password["maxLength"], PASSWORD.max_length, "{password}");

    // The statuses every operation of a kind answers are listed, and answered.
    let statuses = |path: &str, method: &str| -> Vec<String> {
        let responses = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"));
        responses.keys().cloned().collect()
    };
    let create = statuses("/api/projects/{slug}/releases", "post");
    for status in ["400", "409", "413", "415", "422", "503"] {
        assert!(create.contains(&status.to_owned()), "{status}: {create:?}");
    }
    let read = statuses("/api/releases/{id}", "get");
    assert!(read.contains(&"400".to_owned()), "{read:?}");
    assert!(
        !read.contains(&"415".to_owned()),
        "no body, no 415: {read:?}"
    );

    let ada = app.signup("Ada").await;
    let malformed = app.call(&ada, Method::GET, "/api/releases/seven").await;
    assert_eq!(malformed.status(), 400);
    let not_json = app
        .as_user(&ada, Method::POST, "/api/projects")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(not_json.status(), 415);
}

/// Every write a signed-in user can make refuses the session cookie from another origin
/// (request forgery), and says so in the document.
#[tokio::test]
async fn every_signed_in_write_documents_its_refusal_of_a_foreign_origin() {
    let app = TestApp::spawn().await;
    let ada = app.signup("Ada").await;
    let doc: Value = expect_json(app.get("/api/openapi.json").await, 200, "the document").await;
    let mut checked = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let url = app.url(&concrete(path));
        for method in ["post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let method: Method = method.to_uppercase().parse().expect("method");
            let anonymous = app.client.request(method.clone(), &url).send().await;
            if anonymous.expect("answered").status() != 401 {
                continue; // needs no session (sign-up, sign-in)
            }
            let forged = app
                .client
                .request(method.clone(), &url)
                .header("cookie", format!("faro_session={}", ada.token))
                .header("origin", "https://evil.example.com")
                .send()
                .await
                .expect("answered");
            assert_eq!(forged.status(), 403, "{method} {path}");
            assert!(
                op["responses"].get("403").is_some(),
                "{method} {path} answers 403 but does not document it"
            );
            checked.insert(format!("{method} {path}"));
        }
    }
    assert!(checked.contains("POST /api/auth/logout-all"), "{checked:?}");
    assert!(checked.len() >= 25, "{checked:?}");
}
