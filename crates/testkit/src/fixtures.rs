//! The people and things a test starts from, made through the API: accounts, projects,
//! environments, members and releases.

use crate::api::{Api, expect_json};
use faro_types::{AuditEntry, Environment, Member, Page, Project, Release, Role, Session, User};
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// The password every test user signs up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in user and the bearer token of their session.
#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub user: User,
}

/// `name` with a random suffix, unique across tests sharing a database server.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// An email address no other sign-up uses.
pub fn unique_email(name: &str) -> String {
    format!("{}@example.com", unique(&name.to_lowercase()))
}

/// A valid body creating project `slug`.
pub fn project_body(slug: &str) -> Value {
    json!({
        "slug": slug,
        "name": format!("Project {slug}"),
        "sleakops_project": "shop",
        "repository_url": "https://github.com/acme/shop",
        "default_branch": "main",
    })
}

/// A valid body starting a release of `main` to `environment`.
pub fn release_body(environment: &str) -> Value {
    json!({"environment": environment, "branch": "main", "commit_sha": "0a1b2c3d4e5f"})
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A project with the environments `staging` and `production` (the production one).
#[derive(Debug, Clone)]
pub struct ProjectWithEnvironments {
    pub project_id: u64,
    pub slug: String,
    pub staging: u64,
    pub production: u64,
}

/// An owner, a maintainer, a viewer and someone from outside, all signed in.
#[derive(Debug)]
pub struct Team {
    pub owner: Signed,
    pub maintainer: Signed,
    pub viewer: Signed,
    pub outsider: Signed,
}

impl Team {
    pub async fn new(api: &Api) -> Self {
        Self {
            owner: api.signup("Owner").await,
            maintainer: api.signup("Maintainer").await,
            viewer: api.signup("Viewer").await,
            outsider: api.signup("Outsider").await,
        }
    }

    /// A project `slug` owned by the owner, with the maintainer and the viewer as members.
    pub async fn project(&self, api: &Api, slug: &str) -> Project {
        let project = api.create_project(&self.owner, slug).await;
        api.add_member(&self.owner, slug, &self.maintainer, Role::Maintainer)
            .await;
        api.add_member(&self.owner, slug, &self.viewer, Role::Viewer)
            .await;
        project
    }
}

impl Api {
    /// Signs up `name` with a unique email and [`PASSWORD`].
    pub async fn signup(&self, name: &str) -> Signed {
        let email = unique_email(name);
        let body = json!({"email": email, "password": PASSWORD, "name": name});
        let response = self
            .send(None, Method::POST, "/api/auth/signup", Some(&body))
            .await;
        let session: Session = expect_json(response, 201, &format!("sign-up of {email}")).await;
        Signed {
            token: session.token,
            user: session.user,
        }
    }

    /// Signs up each of `names`, in order.
    pub async fn signup_each<const N: usize>(&self, names: [&str; N]) -> [Signed; N] {
        let mut signed = Vec::with_capacity(N);
        for name in names {
            signed.push(self.signup(name).await);
        }
        signed.try_into().expect("one per name")
    }

    /// The user of the session `token` (a browser's cookie, say).
    pub async fn session(&self, token: &str) -> Signed {
        let response = self.call_with_token(token, Method::GET, "/api/me").await;
        Signed {
            token: token.to_owned(),
            user: expect_json(response, 200, "the session's user").await,
        }
    }

    /// Ends the session `token`, as signing out elsewhere does.
    pub async fn logout(&self, token: &str) {
        let response = self
            .call_with_token(token, Method::POST, "/api/auth/logout")
            .await;
        assert_eq!(response.status(), 204, "logout");
    }

    pub async fn create_project(&self, owner: &Signed, slug: &str) -> Project {
        let response = self
            .send(
                Some(owner),
                Method::POST,
                "/api/projects",
                Some(&project_body(slug)),
            )
            .await;
        expect_json(response, 201, &format!("create project {slug}")).await
    }

    /// Environment `name` of project `slug` (on SleakOps `{name}-env`).
    pub async fn create_environment(
        &self,
        who: &Signed,
        slug: &str,
        name: &str,
        production: bool,
    ) -> Environment {
        let body = json!({"name": name, "sleakops_environment": format!("{name}-env"), "production": production});
        let path = format!("/api/projects/{slug}/environments");
        let response = self.send(Some(who), Method::POST, &path, Some(&body)).await;
        expect_json(
            response,
            201,
            &format!("create environment {name} in {slug}"),
        )
        .await
    }

    /// `owner` adds `who` to project `slug` as `role`.
    pub async fn add_member(&self, owner: &Signed, slug: &str, who: &Signed, role: Role) -> Member {
        let body = json!({"email": who.user.email, "role": role});
        let path = format!("/api/projects/{slug}/members");
        let response = self
            .send(Some(owner), Method::POST, &path, Some(&body))
            .await;
        expect_json(response, 201, &format!("add {} to {slug}", who.user.email)).await
    }

    /// A project of `owner`'s with a unique slug and the environments `staging` and
    /// `production`.
    pub async fn project_with_environments(&self, owner: &Signed) -> ProjectWithEnvironments {
        let slug = unique("shop");
        let project = self.create_project(owner, &slug).await;
        let staging = self
            .create_environment(owner, &slug, "staging", false)
            .await;
        let production = self
            .create_environment(owner, &slug, "production", true)
            .await;
        ProjectWithEnvironments {
            project_id: project.id,
            slug,
            staging: staging.id,
            production: production.id,
        }
    }

    /// Signs up `name`, owner of a [`project_with_environments`](Self::project_with_environments).
    pub async fn signup_with_project(&self, name: &str) -> (Signed, ProjectWithEnvironments) {
        let owner = self.signup(name).await;
        let project = self.project_with_environments(&owner).await;
        (owner, project)
    }

    /// The project's audit log, newest first (one page of up to 100).
    pub async fn audit(&self, who: &Signed, slug: &str) -> Vec<AuditEntry> {
        self.get_as::<Page<AuditEntry>>(who, &format!("/api/projects/{slug}/audit?limit=100"))
            .await
            .items
    }

    /// Asks for a release of project `slug` with idempotency key `key` (if any).
    pub async fn post_release(
        &self,
        who: &Signed,
        slug: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Response {
        let mut request = self
            .as_user(who, Method::POST, &format!("/api/projects/{slug}/releases"))
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("answered")
    }

    /// Starts a release of project `slug` under a fresh idempotency key.
    pub async fn create_release(&self, who: &Signed, slug: &str, body: &Value) -> Release {
        let response = self.post_release(who, slug, Some(&new_key()), body).await;
        expect_json(response, 201, &format!("create a release of {slug}")).await
    }

    /// Starts a release of `main` to `environment` of `project`.
    pub async fn start_release(
        &self,
        who: &Signed,
        project: &ProjectWithEnvironments,
        environment: &str,
    ) -> Release {
        self.create_release(who, &project.slug, &release_body(environment))
            .await
    }

    /// `who` cancels release `id`, which must be 200.
    pub async fn cancel_release(&self, who: &Signed, id: u64) -> Release {
        let path = format!("/api/releases/{id}/cancel");
        let response = self.call(who, Method::POST, &path).await;
        expect_json(response, 200, &path).await
    }

    /// The first page of project `slug`'s releases, newest first.
    pub async fn releases(&self, who: &Signed, slug: &str) -> Vec<Release> {
        self.get_as::<Page<Release>>(who, &format!("/api/projects/{slug}/releases"))
            .await
            .items
    }
}
