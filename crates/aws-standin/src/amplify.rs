//! Amplify Hosting, as far as `cargo xtask deploy` uses it (REST JSON, the paths and shapes of
//! the Amplify API), plus the hosting itself: a published branch is served at
//! `<url>/site/<appId>/<branch>/`, `index.html` for `/` and for deep links without a dot.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{self, Req, json as reply, respond};

#[derive(Debug, Default)]
struct Job {
    status: String,
    job_type: String,
    zip: Option<Vec<u8>>,
    reason: Option<String>,
}

#[derive(Debug, Default)]
struct Branch {
    jobs: Vec<Job>,
    site: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Default)]
struct App {
    repository: String,
    branches: BTreeMap<String, Branch>,
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
        repository: Option<&str>,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        state.lock().expect("fresh").apps.insert(
            app_id.to_string(),
            App {
                repository: repository.unwrap_or_default().to_string(),
                branches: BTreeMap::from([(branch.to_string(), Branch::default())]),
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
        "commitId": "",
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
                "name": app_id, "description": "", "repository": app.repository, "platform": "WEB",
                "createTime": now, "updateTime": now, "environmentVariables": {},
                "defaultDomain": format!("{app_id}.amplifyapp.com"), "enableBranchAutoBuild": false,
                "enableBasicAuth": false,
            }}),
        );
    }
    let repository = app.repository.clone();
    let Some(branch) = app.branches.get_mut(&branch_name) else {
        return error(
            404,
            "NotFoundException",
            &format!("Branch {branch_name} not found."),
        );
    };
    match op {
        "CreateDeployment" => {
            if !repository.is_empty() {
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
                branch.jobs.push(Job {
                    job_type: "RELEASE".into(),
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
                let job = &mut branch.jobs[id - 1];
                let unpacked = match (&job.zip, job.job_type.as_str()) {
                    (Some(zip), _) => unzip(zip),
                    (None, "RELEASE") => Ok(BTreeMap::from([(
                        "index.html".to_string(),
                        b"<html>built by CI</html>".to_vec(),
                    )])),
                    (None, _) => Err("no zip was uploaded".to_string()),
                };
                match unpacked {
                    Ok(files) => {
                        job.status = "SUCCEED".into();
                        branch.site = files;
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
