//! The API client: every call of the backend the app makes, with the request and response
//! types of `faro_types`, so the compiler keeps both sides in step.

mod error;
pub mod stream;
mod transport;

pub use error::ApiError;
pub use transport::{BodyStream, Call, on_signed_out, random_key, send, set_base, sleep};

use faro_types::{
    AddMember, CreateEnvironment, CreateProject, CreateRelease, DeliveryMetrics, DraftNotes,
    Environment, Explanation, LoginRequest, Member, OpsStatus, Page, Project, Release,
    ReleaseNotes, Session, SignupRequest, UpdateEnvironment, UpdateMember, UpdateProject,
    UpdateRelease, User, Window,
};
use serde::{Serialize, de::DeserializeOwned};

/// Percent-encodes a path segment or query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=1&b=2` from the pairs with a value; empty without any.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", encode(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn decode<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| ApiError::Unexpected {
        status,
        detail: e.to_string(),
    })
}

async fn json<T: DeserializeOwned>(call: Call<'_>) -> Result<T, ApiError> {
    let response = send(call).await?;
    let body = transport::text(&response).await?;
    decode(response.status(), &body)
}

fn body<B: Serialize>(value: &B) -> Option<String> {
    // Our request types always serialize.
    serde_json::to_string(value).ok()
}

async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    without_body("GET", path).await
}

async fn without_body<T: DeserializeOwned>(method: &str, path: &str) -> Result<T, ApiError> {
    json(Call {
        method,
        path,
        ..Call::default()
    })
    .await
}

async fn with_body<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    value: &B,
) -> Result<T, ApiError> {
    json(Call {
        method,
        path,
        json: body(value),
        ..Call::default()
    })
    .await
}

async fn no_content(method: &str, path: &str) -> Result<(), ApiError> {
    send(Call {
        method,
        path,
        ..Call::default()
    })
    .await
    .map(|_| ())
}

// Accounts

/// The signed-in user, or `None` without a session.
pub async fn me() -> Result<Option<User>, ApiError> {
    match json(Call {
        method: "GET",
        path: "/api/me",
        expect_unauthorized: true,
        ..Call::default()
    })
    .await
    {
        Ok(user) => Ok(Some(user)),
        Err(e) if e.is_unauthorized() => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn signup(request: &SignupRequest) -> Result<Session, ApiError> {
    start_session("/api/auth/signup", request).await
}

pub async fn login(request: &LoginRequest) -> Result<Session, ApiError> {
    start_session("/api/auth/login", request).await
}

/// A 401 here is a refused sign-in, not a session that ended.
async fn start_session<B: Serialize>(path: &str, request: &B) -> Result<Session, ApiError> {
    json(Call {
        method: "POST",
        path,
        json: body(request),
        expect_unauthorized: true,
        ..Call::default()
    })
    .await
}

pub async fn logout() -> Result<(), ApiError> {
    send(Call {
        method: "POST",
        path: "/api/auth/logout",
        expect_unauthorized: true,
        ..Call::default()
    })
    .await
    .map(|_| ())
}

pub async fn status() -> Result<OpsStatus, ApiError> {
    get("/api/status").await
}

// Projects

pub async fn projects(cursor: Option<&str>) -> Result<Page<Project>, ApiError> {
    get(&format!("/api/projects{}", query(&[("cursor", cursor)]))).await
}

pub async fn project(slug: &str) -> Result<Project, ApiError> {
    get(&format!("/api/projects/{}", encode(slug))).await
}

pub async fn create_project(request: &CreateProject) -> Result<Project, ApiError> {
    with_body("POST", "/api/projects", request).await
}

pub async fn update_project(slug: &str, request: &UpdateProject) -> Result<Project, ApiError> {
    with_body("PATCH", &format!("/api/projects/{}", encode(slug)), request).await
}

pub async fn environments(slug: &str) -> Result<Vec<Environment>, ApiError> {
    get(&format!("/api/projects/{}/environments", encode(slug))).await
}

pub async fn create_environment(
    slug: &str,
    request: &CreateEnvironment,
) -> Result<Environment, ApiError> {
    let path = format!("/api/projects/{}/environments", encode(slug));
    with_body("POST", &path, request).await
}

pub async fn update_environment(
    slug: &str,
    name: &str,
    request: &UpdateEnvironment,
) -> Result<Environment, ApiError> {
    let path = format!(
        "/api/projects/{}/environments/{}",
        encode(slug),
        encode(name)
    );
    with_body("PATCH", &path, request).await
}

pub async fn delete_environment(slug: &str, name: &str) -> Result<(), ApiError> {
    let path = format!(
        "/api/projects/{}/environments/{}",
        encode(slug),
        encode(name)
    );
    no_content("DELETE", &path).await
}

pub async fn members(slug: &str) -> Result<Vec<Member>, ApiError> {
    get(&format!("/api/projects/{}/members", encode(slug))).await
}

pub async fn add_member(slug: &str, request: &AddMember) -> Result<Member, ApiError> {
    let path = format!("/api/projects/{}/members", encode(slug));
    with_body("POST", &path, request).await
}

pub async fn update_member(
    slug: &str,
    user_id: u64,
    request: &UpdateMember,
) -> Result<Member, ApiError> {
    let path = format!("/api/projects/{}/members/{user_id}", encode(slug));
    with_body("PATCH", &path, request).await
}

pub async fn remove_member(slug: &str, user_id: u64) -> Result<(), ApiError> {
    no_content(
        "DELETE",
        &format!("/api/projects/{}/members/{user_id}", encode(slug)),
    )
    .await
}

pub async fn metrics(slug: &str, window: Window) -> Result<DeliveryMetrics, ApiError> {
    let window = match window {
        Window::Days7 => "7d",
        Window::Days30 => "30d",
        Window::Days90 => "90d",
    };
    get(&format!(
        "/api/projects/{}/metrics?window={window}",
        encode(slug)
    ))
    .await
}

// Releases

/// The filters of a project's release list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFilter {
    pub environment: Option<String>,
    pub status: Option<String>,
    pub branch: Option<String>,
}

pub async fn releases(
    slug: &str,
    filter: &ReleaseFilter,
    cursor: Option<&str>,
) -> Result<Page<Release>, ApiError> {
    let q = query(&[
        ("environment", filter.environment.as_deref()),
        ("status", filter.status.as_deref()),
        ("branch", filter.branch.as_deref()),
        ("cursor", cursor),
    ]);
    get(&format!("/api/projects/{}/releases{q}", encode(slug))).await
}

pub async fn recent_releases(limit: u32) -> Result<Vec<Release>, ApiError> {
    get(&format!("/api/releases?limit={limit}")).await
}

pub async fn release(id: u64) -> Result<Release, ApiError> {
    get(&format!("/api/releases/{id}")).await
}

pub async fn create_release(
    slug: &str,
    request: &CreateRelease,
    idempotency_key: &str,
) -> Result<Release, ApiError> {
    let path = format!("/api/projects/{}/releases", encode(slug));
    json(Call {
        method: "POST",
        path: &path,
        json: body(request),
        headers: &[("idempotency-key", idempotency_key)],
        ..Call::default()
    })
    .await
}

pub async fn cancel_release(id: u64) -> Result<Release, ApiError> {
    without_body("POST", &format!("/api/releases/{id}/cancel")).await
}

pub async fn retry_release(id: u64, idempotency_key: &str) -> Result<Release, ApiError> {
    json(Call {
        method: "POST",
        path: &format!("/api/releases/{id}/retry"),
        headers: &[("idempotency-key", idempotency_key)],
        ..Call::default()
    })
    .await
}

// AI

pub async fn draft_notes(id: u64, request: &DraftNotes) -> Result<ReleaseNotes, ApiError> {
    with_body("POST", &format!("/api/releases/{id}/notes"), request).await
}

pub async fn save_notes(id: u64, request: &UpdateRelease) -> Result<Release, ApiError> {
    with_body("PATCH", &format!("/api/releases/{id}"), request).await
}

pub async fn explain(id: u64) -> Result<Explanation, ApiError> {
    without_body("POST", &format!("/api/releases/{id}/explain")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_for_urls() {
        assert_eq!(encode("feature/login form"), "feature%2Flogin%20form");
        assert_eq!(encode("shop-api_1.0~x"), "shop-api_1.0~x");
        assert_eq!(
            query(&[
                ("environment", Some("prod")),
                ("status", None),
                ("branch", Some(""))
            ]),
            "?environment=prod"
        );
        assert_eq!(query(&[("cursor", None)]), "");
        assert_eq!(
            query(&[("branch", Some("a&b")), ("cursor", Some("7265"))]),
            "?branch=a%26b&cursor=7265"
        );
    }

    #[test]
    fn unexpected_bodies_are_reported_with_their_status() {
        let err = decode::<User>(200, "<html>").unwrap_err();
        assert!(matches!(err, ApiError::Unexpected { status: 200, .. }));
    }
}
