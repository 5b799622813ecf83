//! A SleakOps simulator: `POST /api/cli-build/`, `GET /api/cli-build/{id}/`,
//! `POST /api/cli-deployment/`, `GET /api/cli-deployment/{id}/` and `GET /api/project-env/`,
//! with `Authorization: Api-Key <key>` and Django REST framework's error bodies.
//!
//! Each key belongs to an account that owns some projects, each with its environments
//! ([`Projects`]). An unknown key is answered 401; a build of a project, or a deployment to a
//! project or environment, outside the key's account 404; a build or deployment another
//! account started is, to this key, a build or deployment that does not exist (404 to read
//! it; deploying it is refused like deploying an unknown build, 400), and so is, to a
//! deployment, a build of another project of the same account. A deployment takes `build`,
//! `image` and `tag` and shows them exactly as sent; any build of the project can be
//! deployed to any of its environments, as often as asked (a promotion or a rollback). `project-env/` lists
//! the account's project environments (see [`Settings::page_size`]). Accounts are made with
//! [`Control::create_account`] or `POST /_sim/sleakops/accounts`
//! (`{"projects": {"shop": ["staging", "production"]}}` → 201 `{"api_key": "…"}`) and grow
//! with [`Control::add_projects`] or `POST /_sim/sleakops/accounts/{api_key}/projects` (same
//! body; 204, or 404 for an unknown key).
//!
//! Builds and deployments advance `initial` → `creating` → `created`, one step every
//! `step_ms` (see [`Settings`]); while the control holds them ([`Control::hold`]), none gets
//! past `creating`. By convention a build whose branch contains `fail-build`, and
//! a deployment whose environment name contains `fail-deploy`, end in `error` with `errors`.
//! A deployment of a build that is not `created` is refused with 412, of an unknown build
//! with 400; a request without its required fields is 400.
//!
//! A build reports the `commit` it builds: the one it was asked for, or else the head of its
//! branch, a fixed 40-hex SHA per account, project, branch and seed that a test reads with
//! [`Control::branch_head`].

pub use crate::accounts::Projects;

use crate::{
    accounts::Account,
    control::{Control, Settings},
    server::{self, Running},
};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{HeaderMap, Response, StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub const CREATE_BUILD: &str = "POST /api/cli-build/";
pub const GET_BUILD: &str = "GET /api/cli-build/{id}/";
pub const CREATE_DEPLOYMENT: &str = "POST /api/cli-deployment/";
pub const GET_DEPLOYMENT: &str = "GET /api/cli-deployment/{id}/";
pub const LIST_PROJECT_ENVS: &str = "GET /api/project-env/";
/// The key of the account every simulator starts with ([`Options::api_key`]).
pub const DEFAULT_KEY: &str = "sim-sleakops-key";
/// A branch containing this makes the build fail.
pub const FAIL_BUILD: &str = "fail-build";
/// An environment name containing this makes the deployment fail.
pub const FAIL_DEPLOY: &str = "fail-deploy";

#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    /// The key of the account the simulator starts with; more are made through the control.
    pub api_key: String,
    /// What that account owns. `None` (the default): any project and environment name, as
    /// before there were accounts, with nothing to list in `project-env/`.
    pub projects: Option<Projects>,
    /// Time spent in each of `initial` and `creating` (changeable later through the control).
    pub step: Duration,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_KEY.to_owned(),
            projects: None,
            step: Duration::from_secs(1),
            seed: 42,
        }
    }
}

#[derive(Debug)]
struct Job {
    /// The [`Account::id`] of the account that started it; no other sees it.
    account: u64,
    created: Instant,
    step: Duration,
    errors: Option<Vec<String>>,
    record: Value,
}

impl Job {
    fn new(account: u64, step: Duration, errors: Option<Vec<String>>, record: Value) -> Self {
        Self {
            account,
            created: Instant::now(),
            step,
            errors,
            record,
        }
    }

    fn state(&self, held: bool) -> &'static str {
        let elapsed = self.created.elapsed();
        if elapsed < self.step {
            "initial"
        } else if elapsed < self.step * 2 || held {
            "creating"
        } else if self.errors.is_some() {
            "error"
        } else {
            "created"
        }
    }

    fn view(&self, id: u64, held: bool) -> Value {
        let state = self.state(held);
        let mut view = self.record.clone();
        view["id"] = json!(id);
        view["state"] = json!(state);
        view["errors"] = match (&self.errors, state) {
            (Some(errors), "error") => json!(errors),
            _ => json!([]),
        };
        view
    }
}

#[derive(Debug, Default)]
struct Store {
    next_id: u64,
    builds: HashMap<u64, Job>,
    deployments: HashMap<u64, Job>,
}

/// Builds and deployments are the same kind of record, kept apart.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Build,
    Deployment,
}

impl Store {
    fn jobs(&mut self, kind: Kind) -> &mut HashMap<u64, Job> {
        match kind {
            Kind::Build => &mut self.builds,
            Kind::Deployment => &mut self.deployments,
        }
    }

    /// The job `id` of `kind`, if `account` started it.
    fn get(&mut self, kind: Kind, id: u64, account: &Account) -> Option<&Job> {
        self.jobs(kind).get(&id).filter(|j| j.account == account.id)
    }

    /// Files `job` under the next id and answers 201 with its view.
    fn create(&mut self, kind: Kind, job: Job, held: bool) -> Response<Body> {
        let id = self.next_id;
        self.next_id += 1;
        let view = job.view(id, held);
        self.jobs(kind).insert(id, job);
        server::json(201, &view)
    }
}

#[derive(Debug)]
struct Sim {
    control: Control,
    store: Mutex<Store>,
}

impl Sim {
    fn new(options: &Options) -> Self {
        let settings = Settings {
            step_ms: options.step.as_millis() as u64,
            ..Settings::default()
        };
        let control = Control::new(settings, options.seed);
        control
            .accounts()
            .insert(&options.api_key, options.projects.clone());
        Self {
            control,
            store: Mutex::new(Store {
                next_id: 1,
                ..Store::default()
            }),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The account of the request's key, if it has a known one.
    fn account(&self, headers: &HeaderMap) -> Option<Account> {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Api-Key "))
            .and_then(|key| self.control.account(key))
    }

    fn step(&self) -> Duration {
        Duration::from_millis(self.control.settings().step_ms)
    }
}

/// Starts the simulator; its base URL is `http://127.0.0.1:<port>/api/`.
pub async fn start(options: Options) -> std::io::Result<Running> {
    let sim = Arc::new(Sim::new(&options));
    let control = sim.control.clone();
    let routes = Router::new()
        .route("/api/cli-build/", post(create::<BuildBody>))
        .route("/api/cli-build/{id}/", get(show::<BuildBody>))
        .route("/api/cli-deployment/", post(create::<DeploymentBody>))
        .route("/api/cli-deployment/{id}/", get(show::<DeploymentBody>))
        .route("/api/project-env/", get(project_envs))
        .fallback(|| async { detail(404, "Not found.") })
        .with_state(sim);
    let admin = Router::new()
        .route("/_sim/sleakops/accounts", post(create_account))
        .route(
            "/_sim/sleakops/accounts/{api_key}/projects",
            post(add_projects),
        )
        .with_state(control.clone());
    server::start(
        options.addr,
        "/api/",
        routes,
        admin,
        control,
        error_for_status,
    )
    .await
}

/// The body of both account admin routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    #[serde(default)]
    projects: Projects,
}

async fn create_account(
    State(control): State<Control>,
    Json(body): Json<AccountBody>,
) -> Response<Body> {
    let api_key = control.create_account(body.projects);
    server::json(201, &json!({ "api_key": api_key }))
}

async fn add_projects(
    State(control): State<Control>,
    Path(api_key): Path<String>,
    Json(body): Json<AccountBody>,
) -> Response<Body> {
    if control.add_projects(&api_key, body.projects) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        detail(404, "No account has this key.")
    }
}

fn detail(status: u16, message: &str) -> Response<Body> {
    server::json(status, &json!({"detail": message}))
}

/// SleakOps' answer for an error status (fault injection uses these too).
fn error_for_status(status: u16) -> Response<Body> {
    match status {
        400 => detail(400, "Invalid request."),
        401 => detail(401, "Invalid API key."),
        403 => detail(403, "You do not have permission to perform this action."),
        404 => detail(404, "Not found."),
        412 => detail(412, "Precondition failed."),
        429 => server::with_retry_after(
            detail(
                429,
                "Request was throttled. Expected available in 1 second.",
            ),
            1,
        ),
        500 => server::html(500, "Server Error"),
        502 => server::html(502, "Bad Gateway"),
        503 => server::html(503, "Service Unavailable"),
        504 => server::html(504, "Gateway Timeout"),
        other => detail(other, "Error."),
    }
}

#[derive(Debug, Deserialize)]
struct ProjectEnv {
    project_name: Option<String>,
    environment_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BuildBody {
    project_env: Option<ProjectEnv>,
    branch: Option<String>,
    commit: Option<String>,
    tag: Option<String>,
    environment: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DeploymentBody {
    project_env: Option<ProjectEnv>,
    build: Option<Value>,
    image: Option<String>,
    tag: Option<String>,
}

const REQUIRED: &str = "This field is required.";

fn required(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| v.trim().is_empty())
}

/// The body of a `POST` that creates a build or a deployment.
trait Create: for<'de> Deserialize<'de> {
    /// Where the jobs it creates are kept.
    const KIND: Kind;

    /// Checks the request and files the job for `account`, or answers why not.
    fn create(self, sim: &Sim, account: &Account) -> Response<Body>;
}

fn project_name(project_env: &Option<ProjectEnv>) -> Option<String> {
    project_env.as_ref().and_then(|p| p.project_name.clone())
}

/// `POST` of a build or deployment, authorized and parsed as SleakOps does.
async fn create<T: Create>(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let Some(account) = sim.account(&headers) else {
        return error_for_status(401);
    };
    match serde_json::from_slice::<T>(&body) {
        Ok(body) => body.create(&sim, &account),
        Err(e) => detail(400, &format!("JSON parse error - {e}")),
    }
}

/// `GET` of one build or deployment: its view as of now, or 404.
async fn show<T: Create>(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response<Body> {
    let Some(account) = sim.account(&headers) else {
        return error_for_status(401);
    };
    let held = sim.control.is_held();
    let mut store = sim.store();
    match id
        .parse()
        .ok()
        .and_then(|id| store.get(T::KIND, id, &account).map(|j| j.view(id, held)))
    {
        Some(view) => server::json(200, &view),
        None => detail(404, "Not found."),
    }
}

impl Create for BuildBody {
    const KIND: Kind = Kind::Build;

    fn create(self, sim: &Sim, account: &Account) -> Response<Body> {
        let project = project_name(&self.project_env);
        let mut errors = serde_json::Map::new();
        if required(&project) {
            errors.insert("project_env".into(), json!({"project_name": [REQUIRED]}));
        }
        if required(&self.branch) {
            errors.insert("branch".into(), json!([REQUIRED]));
        }
        if !errors.is_empty() {
            return server::json(400, &Value::Object(errors));
        }
        let project = project.unwrap_or_default();
        if !account.reaches_project(&project) {
            return detail(404, "Not found.");
        }
        let branch = self.branch.unwrap_or_default();
        let failure = branch.contains(FAIL_BUILD).then(|| {
        vec![format!(
            "Step 5/9 : RUN cargo build --release returned a non-zero code: 101 (simulated: the branch {branch:?} contains {FAIL_BUILD})"
        )]
    });
        let commit = match self.commit.filter(|c| !c.is_empty()) {
            Some(commit) => commit,
            None => sim.control.head_of(account, &project, &branch),
        };
        let record = json!({
            "project_env": {"project_name": project},
            "branch": branch,
            "commit": commit,
            "tag": self.tag,
            "environment": self.environment,
        });
        let job = Job::new(account.id, sim.step(), failure, record);
        sim.store().create(Self::KIND, job, sim.control.is_held())
    }
}

impl Create for DeploymentBody {
    const KIND: Kind = Kind::Deployment;

    fn create(self, sim: &Sim, account: &Account) -> Response<Body> {
        let project = project_name(&self.project_env);
        let environment = self
            .project_env
            .as_ref()
            .and_then(|p| p.environment_name.clone());
        let mut missing = serde_json::Map::new();
        if required(&project) {
            missing.insert("project_name".into(), json!([REQUIRED]));
        }
        if required(&environment) {
            missing.insert("environment_name".into(), json!([REQUIRED]));
        }
        if !missing.is_empty() {
            return server::json(400, &json!({"project_env": missing}));
        }
        let (project, environment) = (project.unwrap_or_default(), environment.unwrap_or_default());
        if !account.reaches_environment(&project, &environment) {
            return detail(404, "Not found.");
        }
        let (step, held) = (sim.step(), sim.control.is_held());
        let mut store = sim.store();
        // Kept as sent (a number or a string), as are `image` and `tag`.
        let build = match &self.build {
            None | Some(Value::Null) => None,
            Some(value) => {
                let id = match value {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                // Another account's build is, to this one, a build that does not exist; so
                // is a build of another of its projects (builds are made per project).
                let Some(build) = id.and_then(|id| {
                    store
                        .get(Kind::Build, id, account)
                        .filter(|b| b.record["project_env"]["project_name"] == project.as_str())
                        .map(|b| (id, b))
                }) else {
                    return server::json(
                        400,
                        &json!({"build": [format!("Invalid pk \"{value}\" - object does not exist.")]}),
                    );
                };
                match build.1.state(held) {
                    "created" => Some(value.clone()),
                    state => {
                        return detail(
                            412,
                            &format!("Build {} is not ready to deploy: it is {state}.", build.0),
                        );
                    }
                }
            }
        };
        let failure = environment.contains(FAIL_DEPLOY).then(|| {
        vec![format!(
            "Deployment to {environment} failed: pods did not become ready within 300s (simulated: the environment name contains {FAIL_DEPLOY})"
        )]
    });
        let record = json!({
            "project_env": {"project_name": project, "environment_name": environment},
            "build": build,
            "image": self.image,
            "tag": self.tag,
        });
        let job = Job::new(account.id, step, failure, record);
        store.create(Self::KIND, job, held)
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<String>,
}

/// `GET project-env/`: the project environments of the key's account, as the SleakOps CLI
/// reads them (`id`, `name`, `project_name`, `environment.name`), in one array or in pages.
async fn project_envs(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response<Body> {
    let Some(account) = sim.account(&headers) else {
        return error_for_status(401);
    };
    let entries: Vec<Value> = account
        .projects
        .iter()
        .flat_map(Projects::pairs)
        .enumerate()
        .map(|(i, (project, environment))| {
            json!({
                "id": i + 1,
                "name": format!("{project}-{environment}"),
                "project_name": project,
                "environment": {"name": environment},
            })
        })
        .collect();
    let size = sim.control.settings().page_size as usize;
    if size == 0 {
        return server::json(200, &Value::Array(entries));
    }
    let pages = entries.len().div_ceil(size).max(1);
    let page = match query.page.as_deref().map(str::parse::<usize>) {
        None => 1,
        Some(Ok(page)) if (1..=pages).contains(&page) => page,
        Some(_) => return detail(404, "Invalid page."),
    };
    // Django REST framework links pages with absolute URLs built from the Host header.
    let base = match headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        Some(host) => format!("http://{host}/api/project-env/"),
        None => "/api/project-env/".to_owned(),
    };
    let link = |page: usize| match page {
        1 => base.clone(),
        page => format!("{base}?page={page}"),
    };
    let count = entries.len();
    let results: Vec<Value> = entries
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    server::json(
        200,
        &json!({
            "count": count,
            "next": (page < pages).then(|| link(page + 1)),
            "previous": (page > 1).then(|| link(page - 1)),
            "results": results,
        }),
    )
}
