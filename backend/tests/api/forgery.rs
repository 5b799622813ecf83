//! Request forgery: a request with an unsafe method signed in by the session cookie must come
//! from the app (`Origin`), since the browser attaches the cookie to a sibling subdomain's
//! requests too. Bearer tokens need no `Origin`.

use faro_testkit::{Signed, TestApp, problem_naming};
use reqwest::{Method, RequestBuilder};
use serde_json::json;

const APP: &str = "https://app.example.com";
const SIBLING: &str = "https://evil.example.com";

/// `who`'s request as the browser sends it: the session cookie, and `origin` if any.
fn with_cookie(
    app: &TestApp,
    who: &Signed,
    method: Method,
    path: &str,
    origin: Option<&str>,
) -> RequestBuilder {
    let request = app
        .client
        .request(method, app.url(path))
        .header("cookie", format!("faro_session={}", who.token));
    match origin {
        Some(origin) => request.header("origin", origin),
        None => request,
    }
}

/// `who` creates organization `slug` with their cookie, from `origin`.
async fn create_org(app: &TestApp, who: &Signed, slug: &str, origin: Option<&str>) -> u16 {
    let request = with_cookie(app, who, Method::POST, "/api/orgs", origin);
    let response = request
        .json(&json!({"slug": slug, "name": slug}))
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    if status == 403 {
        problem_naming(response, 403, "origin", slug).await;
    }
    status
}

#[tokio::test]
async fn cookie_signed_writes_come_from_the_app_origin_only() {
    let app = TestApp::spawn_setting("FARO_CORS_ORIGINS", APP).await;
    let ada = app.signup("Ada").await;

    assert_eq!(create_org(&app, &ada, "from-the-app", Some(APP)).await, 201);
    assert_eq!(
        create_org(&app, &ada, "from-a-sibling", Some(SIBLING)).await,
        403
    );
    assert_eq!(create_org(&app, &ada, "from-nowhere", None).await, 403);
    assert_eq!(
        create_org(&app, &ada, "from-a-sandbox", Some("null")).await,
        403
    );
    // Not the API's own origin either: this backend does not serve the app.
    let own = app.base.clone();
    assert_eq!(
        create_org(&app, &ada, "from-the-api", Some(&own)).await,
        403
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE slug LIKE 'from-%'")
            .await,
        1,
        "only the app's request created anything"
    );

    // A bearer token needs no Origin, and reading with the cookie needs none either.
    let bearer = app
        .send(
            Some(&ada),
            Method::POST,
            "/api/orgs",
            Some(&json!({"slug": "by-script", "name": "By script"})),
        )
        .await;
    assert_eq!(bearer.status(), 201);
    let read = with_cookie(&app, &ada, Method::GET, "/api/me", Some(SIBLING));
    assert_eq!(read.send().await.expect("answered").status(), 200);

    // Signing out without a body is a write too.
    let logout = with_cookie(&app, &ada, Method::POST, "/api/auth/logout", Some(SIBLING));
    problem_naming(
        logout.send().await.expect("answered"),
        403,
        "origin",
        "forged sign-out",
    )
    .await;
    let logout = with_cookie(&app, &ada, Method::POST, "/api/auth/logout", Some(APP));
    assert_eq!(logout.send().await.expect("answered").status(), 204);
}

/// With the app served by the backend (`cargo xtask dev`, the browser tests), its pages call
/// the API on their own origin.
#[tokio::test]
async fn the_backend_serving_the_app_accepts_its_own_origin() {
    let dist = std::env::temp_dir().join(format!("faro-forgery-{}", std::process::id()));
    std::fs::create_dir_all(&dist).expect("a folder");
    std::fs::write(dist.join("index.html"), "<!doctype html>").expect("index.html");
    let app = TestApp::spawn_setting("FARO_FRONTEND_DIR", &dist.to_string_lossy()).await;
    let ada = app.signup("Ada").await;

    let own = app.base.clone();
    assert_eq!(create_org(&app, &ada, "same-origin", Some(&own)).await, 201);
    let port = own.rsplit(':').next().expect("a port");
    let other_port = own.replace(port, "1");
    assert_eq!(
        create_org(&app, &ada, "other-port", Some(&other_port)).await,
        403
    );
    let _ = std::fs::remove_dir_all(&dist);
}
