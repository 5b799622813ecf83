//! Amplify Hosting, as far as `cargo xtask deploy` uses it (REST JSON, the paths and shapes of
//! the Amplify API), plus the hosting itself: a published branch is served at
//! `<url>/site/<appId>/<branch>/`, `index.html` for `/` and for deep links without a dot.
//!
//! An app is either unconnected (manual deployments: CreateDeployment, the upload,
//! StartDeployment) or connected to a [`Repository`]: then, as on Amplify, manual deployments
//! are refused and `StartJob` of type RELEASE builds a commit — the `commitId` it names, or
//! without one the head of the branch — failing when the repository has no such commit.
//! "Building" is what amplify.yml does: the build's artifacts, the commit's `version.json`
//! (`cargo xtask frontend build`) and the branch's `config.json` from its environment
//! variables (`cargo xtask frontend configure`).
//!
//! The custom domain can be held back ([`Amplify::domain_pending`]): the site then answers 503
//! for a while after its first publication, as a domain whose certificate is being issued
//! keeps a browser out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{self, Req, json as reply, respond};

/// The git repository a connected app builds from.
#[derive(Debug, Clone)]
pub struct Repository {
    /// What GetApp's `repository` says.
    pub url: String,
    /// What amplify.yml's build leaves in its `baseDirectory`, the same for every commit here.
    pub artifacts: PathBuf,
}

#[derive(Debug, Default)]
struct Job {
    status: String,
    job_type: String,
    commit_id: String,
    zip: Option<Vec<u8>>,
    reason: Option<String>,
}

#[derive(Debug, Default)]
struct Branch {
    jobs: Vec<Job>,
    site: BTreeMap<String, Vec<u8>>,
    /// The branch's environment variables, which amplify.yml reads.
    variables: BTreeMap<String, String>,
    /// The commit the repository's branch points at.
    head: Option<String>,
    published_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct App {
    repository: Option<Repository>,
    /// Every commit the repository has (pushed with [`Amplify::push`]).
    commits: BTreeSet<String>,
    branches: BTreeMap<String, Branch>,
    /// How long after its first publication the site keeps answering "not ready".
    domain_pending: Duration,
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeMap<String, App>,
    /// Requests per operation, for tests that check what was (not) called.
    calls: BTreeMap<String, usize>,
}

/// The running simulator.
#[derive(Debug, Clone)]
pub struct Amplify {
    pub url: String,
    state: Arc<Mutex<State>>,
    _served: Arc<serve::Served>,
}

impl Amplify {
    /// Starts with one app and branch; `repository` makes it a connected app.
    pub async fn start(
        app_id: &str,
        branch: &str,
        repository: Option<Repository>,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        state.lock().expect("fresh").apps.insert(
            app_id.to_string(),
            App {
                repository,
                branches: BTreeMap::from([(branch.to_string(), Branch::default())]),
                ..App::default()
            },
        );
        let shared = state.clone();
        let base = Arc::new(Mutex::new(String::new()));
        let base_for_handler = base.clone();
        let served = serve::start(Arc::new(move |req| {
            let state = shared.clone();
            let base = base_for_handler.lock().expect("not poisoned").clone();
            Box::pin(async move { handle(&state, &base, req).await })
        }))
        .await?;
        *base.lock().expect("not poisoned") = served.url.clone();
        Ok(Self {
            url: served.url.clone(),
            state,
            _served: Arc::new(served),
        })
    }

    /// Where the branch's site is served.
    pub fn site_url(&self, app_id: &str, branch: &str) -> String {
        format!("{}/site/{app_id}/{branch}", self.url)
    }

    fn with_app<T>(&self, app_id: &str, f: impl FnOnce(&mut App) -> T) -> T {
        let mut guard = self.state.lock().expect("not poisoned");
        f(guard
            .apps
            .get_mut(app_id)
            .expect("an app the stand-in started with"))
    }

    /// A push to the connected repository: `commit` exists and `branch` now points at it.
    pub fn push(&self, app_id: &str, branch: &str, commit: &str) {
        self.with_app(app_id, |app| {
            app.commits.insert(commit.to_string());
            app.branches.entry(branch.to_string()).or_default().head = Some(commit.to_string());
        });
    }

    /// The branch's environment variables (infra/frontend.yaml sets them on AWS).
    pub fn set_variables(&self, app_id: &str, branch: &str, variables: &[(&str, &str)]) {
        self.with_app(app_id, |app| {
            app.branches
                .entry(branch.to_string())
                .or_default()
                .variables = variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        });
    }

    /// The app's domain answers "not ready" (503) until `pending` after the first publication.
    pub fn domain_pending(&self, app_id: &str, pending: Duration) {
        self.with_app(app_id, |app| app.domain_pending = pending);
    }

    /// The commit each job of the branch built (empty for manual deployments), oldest first.
    pub fn job_commits(&self, app_id: &str, branch: &str) -> Vec<String> {
        self.with_app(app_id, |app| {
            app.branches
                .get(branch)
                .map(|b| b.jobs.iter().map(|j| j.commit_id.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// How often an operation was called.
    pub fn calls(&self, operation: &str) -> usize {
        self.state
            .lock()
            .expect("not poisoned")
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

fn error(
    status: u16,
    kind: &str,
    message: &str,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let mut response = reply(status, &json!({ "message": message }));
    response
        .headers_mut()
        .insert("x-amzn-errortype", kind.parse().expect("a header value"));
    response
}

fn summary(app: &str, branch: &str, id: usize, job: &Job) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "jobArn": format!("arn:aws:amplify:us-east-1:123456789012:apps/{app}/branches/{branch}/jobs/{id}"),
        "jobId": id.to_string(),
        "commitId": job.commit_id,
        "commitMessage": "",
        "commitTime": now,
        "startTime": now,
        "status": job.status,
        "jobType": job.job_type,
    })
}

async fn handle(
    state: &Arc<Mutex<State>>,
    base: &str,
    req: Req,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let op = match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["apps", _]) => "GetApp",
        ("POST", ["apps", _, "branches", _, "deployments"]) => "CreateDeployment",
        ("PUT", ["upload", _, _, _]) => "Upload",
        ("POST", ["apps", _, "branches", _, "deployments", "start"]) => "StartDeployment",
        ("POST", ["apps", _, "branches", _, "jobs"]) => "StartJob",
        ("GET", ["apps", _, "branches", _, "jobs", _]) => "GetJob",
        ("GET", ["site", ..]) => "Site",
        _ => {
            return error(
                404,
                "NotFoundException",
                &format!("no route {} {}", req.method, req.path),
            );
        }
    };
    let mut guard = state.lock().expect("not poisoned");
    *guard.calls.entry(op.to_string()).or_default() += 1;
    let app_id = parts.get(1).copied().unwrap_or_default().to_string();
    let branch_name = parts
        .get(if matches!(op, "Upload" | "Site") {
            2
        } else {
            3
        })
        .copied()
        .unwrap_or_default()
        .to_string();
    let Some(app) = guard.apps.get_mut(&app_id) else {
        return error(
            404,
            "NotFoundException",
            &format!("App {app_id} not found."),
        );
    };
    if op == "GetApp" {
        let now = chrono::Utc::now().timestamp();
        return reply(
            200,
            &json!({ "app": {
                "appId": app_id, "appArn": format!("arn:aws:amplify:us-east-1:123456789012:apps/{app_id}"),
                "name": app_id, "description": "",
                "repository": app.repository.as_ref().map(|r| r.url.as_str()).unwrap_or_default(),
                "platform": "WEB",
                "createTime": now, "updateTime": now, "environmentVariables": {},
                "defaultDomain": format!("{app_id}.amplifyapp.com"), "enableBranchAutoBuild": false,
                "enableBasicAuth": false,
            }}),
        );
    }
    let repository = app.repository.clone();
    let domain_pending = app.domain_pending;
    let commits = app.commits.clone();
    let Some(branch) = app.branches.get_mut(&branch_name) else {
        return error(
            404,
            "NotFoundException",
            &format!("Branch {branch_name} not found."),
        );
    };
    match op {
        "CreateDeployment" => {
            if repository.is_some() {
                return error(
                    400,
                    "BadRequestException",
                    "Operation not supported. App is already connected a repository.",
                );
            }
            branch.jobs.push(Job {
                status: "PENDING".into(),
                job_type: "MANUAL".into(),
                ..Job::default()
            });
            let id = branch.jobs.len();
            reply(
                200,
                &json!({
                    "jobId": id.to_string(),
                    "zipUploadUrl": format!("{base}/upload/{app_id}/{branch_name}/{id}"),
                    "fileUploadUrls": {},
                }),
            )
        }
        "Upload" => {
            let id: usize = parts.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
            match branch.jobs.get_mut(id.wrapping_sub(1)) {
                Some(job) => {
                    job.zip = Some(req.body.to_vec());
                    respond(200, "text/plain", "")
                }
                None => respond(
                    403,
                    "application/xml",
                    "<Error><Code>AccessDenied</Code></Error>",
                ),
            }
        }
        "StartDeployment" | "StartJob" => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let id = if op == "StartJob" {
                let commit = match start_job(&body, repository.as_ref(), branch) {
                    Ok(commit) => commit,
                    Err(message) => return error(400, "BadRequestException", &message),
                };
                branch.jobs.push(Job {
                    job_type: "RELEASE".into(),
                    commit_id: commit,
                    ..Job::default()
                });
                branch.jobs.len()
            } else {
                body["jobId"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0)
            };
            let Some(job) = branch.jobs.get_mut(id.wrapping_sub(1)) else {
                return error(404, "NotFoundException", "Job not found.");
            };
            job.status = "RUNNING".into();
            let summary = summary(&app_id, &branch_name, id, job);
            let state = state.clone();
            let (app_id, branch_name) = (app_id.clone(), branch_name.clone());
            drop(guard);
            // The deployment takes a moment, like the real one.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let mut guard = state.lock().expect("not poisoned");
                let Some(branch) = guard
                    .apps
                    .get_mut(&app_id)
                    .and_then(|a| a.branches.get_mut(&branch_name))
                else {
                    return;
                };
                let job = &branch.jobs[id - 1];
                let built = match (&job.zip, &repository) {
                    (Some(zip), _) => unzip(zip),
                    (None, Some(repository)) => {
                        ci_build(repository, &commits, &job.commit_id, &branch.variables)
                    }
                    (None, None) => Err("no zip was uploaded".to_string()),
                };
                let job = &mut branch.jobs[id - 1];
                match built {
                    Ok(files) => {
                        job.status = "SUCCEED".into();
                        branch.site = files;
                        branch.published_at.get_or_insert_with(Instant::now);
                    }
                    Err(reason) => {
                        job.status = "FAILED".into();
                        job.reason = Some(reason);
                    }
                }
            });
            reply(200, &json!({ "jobSummary": summary }))
        }
        "GetJob" => {
            let id: usize = parts.get(5).and_then(|s| s.parse().ok()).unwrap_or(0);
            let Some(job) = branch.jobs.get(id.wrapping_sub(1)) else {
                return error(404, "NotFoundException", "Job not found.");
            };
            let now = chrono::Utc::now().timestamp();
            let step_status = if job.status == "FAILED" {
                "FAILED"
            } else {
                job.status.as_str()
            };
            reply(
                200,
                &json!({ "job": {
                    "summary": summary(&app_id, &branch_name, id, job),
                    "steps": [{ "stepName": "DEPLOY", "startTime": now, "endTime": now, "status": step_status,
                                "statusReason": job.reason }],
                }}),
            )
        }
        "Site" => {
            let ready = branch
                .published_at
                .is_some_and(|at| at.elapsed() >= domain_pending);
            if !ready && !domain_pending.is_zero() {
                return respond(503, "text/plain", "the domain is not ready yet");
            }
            let path = parts.get(3..).map(|p| p.join("/")).unwrap_or_default();
            let file = if path.is_empty() || !path.rsplit('/').next().unwrap_or("").contains('.') {
                "index.html".to_string()
            } else {
                path
            };
            match branch.site.get(&file) {
                Some(bytes) => respond(200, content_type(&file), bytes.clone()),
                None => respond(404, "text/plain", "not found"),
            }
        }
        _ => error(404, "NotFoundException", "no such operation"),
    }
}

/// What StartJob would build: the commit of a RELEASE job (its `commitId`, else the branch's
/// head), or why Amplify refuses the request.
fn start_job(
    body: &Value,
    repository: Option<&Repository>,
    branch: &Branch,
) -> Result<String, String> {
    if repository.is_none() {
        return Err("Operation not supported. App is not connected to a repository.".into());
    }
    match body["jobType"].as_str() {
        Some("RELEASE") => {}
        Some("RETRY") if body["jobId"].as_str().is_none_or(str::is_empty) => {
            return Err("jobId is required for a job of type RETRY.".into());
        }
        other => {
            return Err(format!(
                "the stand-in models RELEASE jobs only, not {other:?}"
            ));
        }
    }
    match body["commitId"].as_str().filter(|c| !c.is_empty()) {
        Some(commit) => Ok(commit.to_string()),
        None => branch
            .head
            .clone()
            .ok_or_else(|| "the branch has no commit to build".to_string()),
    }
}

/// amplify.yml's build of `commit`: its artifacts, with the commit's `version.json` and the
/// branch's `config.json`.
fn ci_build(
    repository: &Repository,
    commits: &BTreeSet<String>,
    commit: &str,
    variables: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    if !commits.contains(commit) {
        return Err(format!(
            "Unable to checkout commit {commit}: the repository has no such commit"
        ));
    }
    let Some(api) = variables.get("FARO_API_BASE_URL") else {
        return Err("FARO_API_BASE_URL is not set for the branch".into());
    };
    let mut files = BTreeMap::new();
    read_tree(&repository.artifacts, &repository.artifacts, &mut files)
        .map_err(|e| format!("reading {}: {e}", repository.artifacts.display()))?;
    let text = |value: Value| serde_json::to_vec(&value).expect("JSON serializes");
    files.insert("version.json".into(), text(json!({ "git_sha": commit })));
    files.insert(
        "config.json".into(),
        text(json!({
            "api_base_url": api,
            "environment": variables.get("FARO_ENVIRONMENT").cloned().unwrap_or_default(),
        })),
    );
    Ok(files)
}

fn read_tree(
    dir: &Path,
    base: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_tree(&path, base, files)?;
        } else {
            let name = path.strip_prefix(base).unwrap_or(&path);
            files.insert(
                name.to_string_lossy().replace('\\', "/"),
                std::fs::read(&path)?,
            );
        }
    }
    Ok(())
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("html") => "text/html",
        Some("json") => "application/json",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    }
}

fn unzip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip: {e}"))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        let mut content = Vec::new();
        file.read_to_end(&mut content).map_err(|e| e.to_string())?;
        files.insert(file.name().to_string(), content);
    }
    if !files.contains_key("index.html") {
        return Err("the zip has no index.html at its root".into());
    }
    Ok(files)
}
