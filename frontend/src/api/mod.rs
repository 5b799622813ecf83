//! The API client: every call of the backend the app makes, with the request and response
//! types of `faro_types`, so the compiler keeps both sides in step.

mod error;
pub mod stream;
mod transport;

pub use error::ApiError;
pub use transport::{
    BodyStream, Call, on_signed_out, random_key, send, set_base, signed_out, sleep,
};

use crate::state::skew::{self, BackendBuild, LiveBuild};
use faro_types::{
    AddMember, AiBudget, ChangePassword, CreateEnvironment, CreateInvitation, CreateProject,
    CreateRelease, CreatedInvitation, DeliveryMetrics, DraftNotes, Environment, Explanation,
    Invitation, InvitationPreview, LoginRequest, Member, OpsStatus, OrgMember, Organization, Page,
    Project, PromoteRelease, RejectRelease, Release, ReleaseNotes, RollBack, Session,
    SetSleakopsKey, SignupRequest, SleakopsKeyStatus, SleakopsProject, UpdateEnvironment,
    UpdateMember, UpdateOrg, UpdateOrgMember, UpdateProject, UpdateRelease, User, Window,
};
use serde::{Serialize, de::DeserializeOwned};
use std::future::{Future, IntoFuture};
use std::pin::Pin;

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

/// A call of the API whose answer reads as a `T`, sent when awaited.
///
/// Not an `async fn` per call: each would compile its own state machine around the same
/// send-and-read steps, inlined into each caller. Here those steps are one non-generic
/// future, and only reading the answer is compiled per answer type.
#[must_use = "a request is sent when awaited"]
pub struct Request<T> {
    method: &'static str,
    path: String,
    json: Option<String>,
    read: fn(u16, &str) -> Result<T, ApiError>,
}

impl<T> std::fmt::Debug for Request<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl<T: 'static> IntoFuture for Request<T> {
    type Output = Result<T, ApiError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

    fn into_future(self) -> Self::IntoFuture {
        let Self {
            method,
            path,
            json,
            read,
        } = self;
        Box::pin(async move {
            let (status, body) = answer(method, path, json).await?;
            read(status, &body)
        })
    }
}

/// Sends a request; its status and body when it succeeded.
async fn answer(
    method: &'static str,
    path: String,
    json: Option<String>,
) -> Result<(u16, String), ApiError> {
    let response = send(Call {
        method,
        path: &path,
        json,
        ..Call::default()
    })
    .await?;
    let body = transport::text(&response).await?;
    Ok((response.status(), body))
}

fn request<T: DeserializeOwned>(
    method: &'static str,
    path: String,
    json: Option<String>,
) -> Request<T> {
    Request {
        method,
        path,
        json,
        read: decode::<T>,
    }
}

fn get<T: DeserializeOwned>(path: String) -> Request<T> {
    request("GET", path, None)
}

fn with_body<B: Serialize, T: DeserializeOwned>(
    method: &'static str,
    path: String,
    value: &B,
) -> Request<T> {
    request(method, path, body(value))
}

/// A request answered with 204 No Content.
fn no_content(method: &'static str, path: String) -> Request<()> {
    Request {
        method,
        path,
        json: None,
        read: |_, _| Ok(()),
    }
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
    end_sessions("/api/auth/logout").await
}

/// Ends every session of the account, this one included.
pub async fn logout_all() -> Result<(), ApiError> {
    end_sessions("/api/auth/logout-all").await
}

/// A 401 here means the session had already ended.
async fn end_sessions(path: &str) -> Result<(), ApiError> {
    send(Call {
        method: "POST",
        path,
        expect_unauthorized: true,
        ..Call::default()
    })
    .await
    .map(|_| ())
}

/// A new password; the account's other sessions end, this one stays.
pub fn change_password(request: &ChangePassword) -> Request<()> {
    Request {
        method: "POST",
        path: "/api/me/password".into(),
        json: body(request),
        read: |_, _| Ok(()),
    }
}

pub fn status() -> Request<OpsStatus> {
    get("/api/status".into())
}

/// The backend's build, as far as the app checks it against its own.
pub fn version() -> Request<BackendBuild> {
    get("/api/version".into())
}

/// The frontend live on the app's own origin now.
pub async fn live_frontend() -> Result<LiveBuild, ApiError> {
    json(Call {
        method: "GET",
        path: skew::VERSION_PATH,
        own_origin: true,
        ..Call::default()
    })
    .await
}

// Organizations

fn org_path(org: &str, rest: &str) -> String {
    format!("/api/orgs/{}{rest}", encode(org))
}

pub fn orgs() -> Request<Vec<Organization>> {
    get("/api/orgs".into())
}

pub fn org(org: &str) -> Request<Organization> {
    get(org_path(org, ""))
}

pub fn update_org(org: &str, request: &UpdateOrg) -> Request<Organization> {
    with_body("PATCH", org_path(org, ""), request)
}

pub fn org_members(org: &str) -> Request<Vec<OrgMember>> {
    get(org_path(org, "/members"))
}

pub fn update_org_member(org: &str, user_id: u64, request: &UpdateOrgMember) -> Request<OrgMember> {
    with_body(
        "PATCH",
        org_path(org, &format!("/members/{user_id}")),
        request,
    )
}

pub fn remove_org_member(org: &str, user_id: u64) -> Request<()> {
    no_content("DELETE", org_path(org, &format!("/members/{user_id}")))
}

pub fn invitations(org: &str) -> Request<Vec<Invitation>> {
    get(org_path(org, "/invitations"))
}

pub fn invite(org: &str, request: &CreateInvitation) -> Request<CreatedInvitation> {
    with_body("POST", org_path(org, "/invitations"), request)
}

pub fn revoke_invitation(org: &str, id: u64) -> Request<()> {
    no_content("DELETE", org_path(org, &format!("/invitations/{id}")))
}

pub fn set_sleakops_key(org: &str, request: &SetSleakopsKey) -> Request<SleakopsKeyStatus> {
    with_body("PUT", org_path(org, "/sleakops-key"), request)
}

pub fn delete_sleakops_key(org: &str) -> Request<()> {
    no_content("DELETE", org_path(org, "/sleakops-key"))
}

/// The SleakOps projects and environments the organization's key reaches.
pub fn sleakops_projects(org: &str) -> Request<Vec<SleakopsProject>> {
    get(org_path(org, "/sleakops/projects"))
}

/// What an invitation link invites to; no session needed.
pub fn invitation(token: &str) -> Request<InvitationPreview> {
    get(format!("/api/invitations/{}", encode(token)))
}

pub fn accept_invitation(token: &str) -> Request<Organization> {
    request(
        "POST",
        format!("/api/invitations/{}/accept", encode(token)),
        None,
    )
}

// Projects

pub fn projects(organization: Option<&str>, cursor: Option<&str>) -> Request<Page<Project>> {
    let pairs = [("organization", organization), ("cursor", cursor)];
    get(format!("/api/projects{}", query(&pairs)))
}

pub fn project(slug: &str) -> Request<Project> {
    get(format!("/api/projects/{}", encode(slug)))
}

pub fn create_project(request: &CreateProject) -> Request<Project> {
    with_body("POST", "/api/projects".into(), request)
}

pub fn update_project(slug: &str, request: &UpdateProject) -> Request<Project> {
    with_body("PATCH", format!("/api/projects/{}", encode(slug)), request)
}

pub fn environments(slug: &str) -> Request<Vec<Environment>> {
    get(format!("/api/projects/{}/environments", encode(slug)))
}

pub fn create_environment(slug: &str, request: &CreateEnvironment) -> Request<Environment> {
    let path = format!("/api/projects/{}/environments", encode(slug));
    with_body("POST", path, request)
}

pub fn update_environment(
    slug: &str,
    name: &str,
    request: &UpdateEnvironment,
) -> Request<Environment> {
    let path = format!(
        "/api/projects/{}/environments/{}",
        encode(slug),
        encode(name)
    );
    with_body("PATCH", path, request)
}

pub fn delete_environment(slug: &str, name: &str) -> Request<()> {
    let path = format!(
        "/api/projects/{}/environments/{}",
        encode(slug),
        encode(name)
    );
    no_content("DELETE", path)
}

pub fn members(slug: &str) -> Request<Vec<Member>> {
    get(format!("/api/projects/{}/members", encode(slug)))
}

pub fn add_member(slug: &str, request: &AddMember) -> Request<Member> {
    let path = format!("/api/projects/{}/members", encode(slug));
    with_body("POST", path, request)
}

pub fn update_member(slug: &str, user_id: u64, request: &UpdateMember) -> Request<Member> {
    let path = format!("/api/projects/{}/members/{user_id}", encode(slug));
    with_body("PATCH", path, request)
}

pub fn remove_member(slug: &str, user_id: u64) -> Request<()> {
    no_content(
        "DELETE",
        format!("/api/projects/{}/members/{user_id}", encode(slug)),
    )
}

pub fn metrics(slug: &str, window: Window) -> Request<DeliveryMetrics> {
    let window = match window {
        Window::Days7 => "7d",
        Window::Days30 => "30d",
        Window::Days90 => "90d",
    };
    get(format!(
        "/api/projects/{}/metrics?window={window}",
        encode(slug)
    ))
}

// Releases

/// The filters of a project's release list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFilter {
    pub environment: Option<String>,
    pub status: Option<String>,
    pub branch: Option<String>,
}

pub fn releases(
    slug: &str,
    filter: &ReleaseFilter,
    cursor: Option<&str>,
) -> Request<Page<Release>> {
    let q = query(&[
        ("environment", filter.environment.as_deref()),
        ("status", filter.status.as_deref()),
        ("branch", filter.branch.as_deref()),
        ("cursor", cursor),
    ]);
    get(format!("/api/projects/{}/releases{q}", encode(slug)))
}

pub fn recent_releases(limit: u32) -> Request<Vec<Release>> {
    get(format!("/api/releases?limit={limit}"))
}

pub fn release(id: u64) -> Request<Release> {
    get(format!("/api/releases/{id}"))
}

pub async fn create_release(
    slug: &str,
    request: &CreateRelease,
    idempotency_key: &str,
) -> Result<Release, ApiError> {
    let path = format!("/api/projects/{}/releases", encode(slug));
    create_once(&path, body(request), idempotency_key).await
}

pub fn cancel_release(id: u64) -> Request<Release> {
    request("POST", format!("/api/releases/{id}/cancel"), None)
}

pub async fn retry_release(id: u64, idempotency_key: &str) -> Result<Release, ApiError> {
    create_once(&format!("/api/releases/{id}/retry"), None, idempotency_key).await
}

/// A create-like call (a new release comes of it): sent with an `Idempotency-Key`, so a
/// resend after an unknown outcome answers with the release the first one made.
async fn create_once(path: &str, sent: Option<String>, key: &str) -> Result<Release, ApiError> {
    json(Call {
        method: "POST",
        path,
        json: sent,
        headers: &[("idempotency-key", key)],
        ..Call::default()
    })
    .await
}

pub fn approve_release(id: u64) -> Request<Release> {
    request("POST", format!("/api/releases/{id}/approve"), None)
}

pub fn reject_release(id: u64, request: &RejectRelease) -> Request<Release> {
    with_body("POST", format!("/api/releases/{id}/reject"), request)
}

/// Deploys release `id`'s build to another environment of its project.
pub async fn promote_release(
    id: u64,
    request: &PromoteRelease,
    idempotency_key: &str,
) -> Result<Release, ApiError> {
    let path = format!("/api/releases/{id}/promote");
    create_once(&path, body(request), idempotency_key).await
}

/// Deploys again the build of an earlier release of environment `name`.
pub async fn roll_back(
    slug: &str,
    name: &str,
    request: &RollBack,
    idempotency_key: &str,
) -> Result<Release, ApiError> {
    let path = format!(
        "/api/projects/{}/environments/{}/rollback",
        encode(slug),
        encode(name)
    );
    create_once(&path, body(request), idempotency_key).await
}

// AI

pub fn draft_notes(id: u64, request: &DraftNotes) -> Request<ReleaseNotes> {
    with_body("POST", format!("/api/releases/{id}/notes"), request)
}

pub fn save_notes(id: u64, request: &UpdateRelease) -> Request<Release> {
    with_body("PATCH", format!("/api/releases/{id}"), request)
}

pub fn explain(id: u64) -> Request<Explanation> {
    request("POST", format!("/api/releases/{id}/explain"), None)
}

pub fn ai_usage(org: &str) -> Request<AiBudget> {
    get(org_path(org, "/ai-usage"))
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
