//! ECS's data plane for tests, in front of moto's ECS control plane.
//!
//! moto keeps clusters, task definitions and services, but runs nothing: its tasks never stop
//! and its services never deploy. This proxy forwards every ECS call to moto and adds what
//! Fargate and the ECS scheduler do: a task really runs (the image's binary, pulled from the
//! registry and started as a process, with the task definition's environment and command), its
//! output goes to CloudWatch Logs in moto under `<prefix>/<container>/<task id>`, and it stops
//! with a real exit code. A service rolls out like ECS's rolling update: new tasks start, a task
//! counts as healthy once `GET /readyz` answers 200 (the target group's check), old tasks stop
//! when all new ones are healthy, and after 3 failed tasks the circuit breaker fails the
//! deployment and rolls back to the previous one. `lb_url` is the load balancer: it forwards to
//! a healthy task of the service.
//!
//! Each task gets its own port in `FARO_PORT`, as each Fargate task has its own address.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use faro_deploy::image::layout::{self, BINARY_PATH};
use faro_deploy::registry::{self, Reference};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::serve::{self, Req, json as reply, respond};

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
/// ECS's circuit breaker: failed tasks before a deployment fails (its minimum threshold).
pub const FAILED_TASK_THRESHOLD: u32 = 3;

#[derive(Debug, Clone)]
pub struct Config {
    /// moto's endpoint (ECS control plane and CloudWatch Logs).
    pub moto_url: String,
    /// The registry that holds the images, whatever registry host the task definition names.
    pub registry_url: String,
    pub work_dir: PathBuf,
    pub region: String,
}

#[derive(Debug, Clone)]
struct Task {
    arn: String,
    cluster: String,
    task_definition: String,
    group: String,
    container: String,
    service: Option<String>,
    deployment: Option<String>,
    port: u16,
    last_status: String,
    exit_code: Option<i32>,
    stopped_reason: Option<String>,
    created_at: f64,
    stopped_at: Option<f64>,
    healthy: bool,
    counted_failure: bool,
}

/// One task as a test reads it afterwards: who started it and when it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// `service:<name>` for a service's task, else RunTask's `startedBy`.
    pub group: String,
    pub task_definition: String,
    /// Seconds since the epoch.
    pub created_at: f64,
    pub stopped_at: Option<f64>,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone)]
struct Deployment {
    id: String,
    task_definition: String,
    status: String,
    rollout_state: String,
    reason: String,
    failed: u32,
    created_at: f64,
}

#[derive(Debug, Default)]
struct Service {
    deployments: Vec<Deployment>,
    events: Vec<(String, f64, String)>,
}

#[derive(Debug, Default)]
struct State {
    tasks: BTreeMap<String, Task>,
    services: BTreeMap<String, Service>,
    pids: BTreeMap<String, u32>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    http: reqwest::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    state: Mutex<State>,
    /// One pull and extraction per image at a time.
    binaries: tokio::sync::Mutex<BTreeMap<String, PathBuf>>,
}

/// The running stand-in.
#[derive(Debug, Clone)]
pub struct Fargate {
    /// Set `AWS_ENDPOINT_URL_ECS` to this.
    pub url: String,
    /// The load balancer in front of the service's healthy tasks.
    pub lb_url: String,
    inner: Arc<Inner>,
    _served: Arc<(serve::Served, serve::Served)>,
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

impl Fargate {
    pub async fn start(config: Config) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.work_dir)?;
        let sdk = faro_deploy::aws::shared(&config.region)
            .await
            .into_builder()
            .endpoint_url(&config.moto_url)
            .build();
        let inner = Arc::new(Inner {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("TLS backend"),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            state: Mutex::new(State::default()),
            binaries: tokio::sync::Mutex::new(BTreeMap::new()),
            config,
        });
        let api = inner.clone();
        let served = serve::start(Arc::new(move |req| {
            let inner = api.clone();
            Box::pin(async move { inner.handle(req).await })
        }))
        .await?;
        let lb = inner.clone();
        let lb_served = serve::start(Arc::new(move |req| {
            let inner = lb.clone();
            Box::pin(async move { inner.balance(req).await })
        }))
        .await?;
        let reconciler = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Some(inner) = reconciler.upgrade() else {
                    return;
                };
                inner.reconcile().await;
            }
        });
        Ok(Self {
            url: served.url.clone(),
            lb_url: lb_served.url.clone(),
            inner,
            _served: Arc::new((served, lb_served)),
        })
    }

    /// Task arns with their last status and exit code, for assertions.
    pub fn tasks(&self) -> Vec<(String, String, Option<i32>)> {
        let state = self.inner.state.lock().expect("not poisoned");
        state
            .tasks
            .values()
            .map(|t| (t.group.clone(), t.last_status.clone(), t.exit_code))
            .collect()
    }

    /// Every task this stand-in started, oldest first.
    pub fn history(&self) -> Vec<TaskRecord> {
        let state = self.inner.state.lock().expect("not poisoned");
        let mut records: Vec<TaskRecord> = state
            .tasks
            .values()
            .map(|t| TaskRecord {
                group: t.group.clone(),
                task_definition: t.task_definition.clone(),
                created_at: t.created_at,
                stopped_at: t.stopped_at,
                exit_code: t.exit_code,
            })
            .collect();
        records.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        records
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Tasks die with the stand-in.
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for pid in state.pids.values() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

impl Inner {
    async fn moto(&self, op: &str, body: &Value) -> Result<Value, String> {
        let response = self
            .http
            .post(&self.config.moto_url)
            .header("x-amz-target", format!("{TARGET_PREFIX}{op}"))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20240101/{}/ecs/aws4_request",
                    self.config.region
                ),
            )
            .body(serde_json::to_vec(body).expect("JSON"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(value.to_string())
        }
    }

    async fn forward(&self, req: &Req) -> (u16, Bytes, Option<String>) {
        let mut request = self.http.post(&self.config.moto_url).body(req.body.clone());
        for (name, value) in &req.headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let kind = serve::header(response.headers(), "x-amzn-errortype").map(str::to_owned);
                (status, response.bytes().await.unwrap_or_default(), kind)
            }
            Err(e) => (502, Bytes::from(e.to_string()), None),
        }
    }

    async fn handle(self: Arc<Self>, req: Req) -> hyper::Response<http_body_util::Full<Bytes>> {
        let op = serve::header(&req.headers, "x-amz-target")
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .unwrap_or_default()
            .to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if op == "ListTasks" && body.get("serviceName").is_some() {
            return reply(200, &self.list_service_tasks(&body));
        }
        let (status, bytes, kind) = self.forward(&req).await;
        let passthrough = |status: u16, bytes: Bytes, kind: Option<String>| {
            let mut response = respond(status, "application/x-amz-json-1.1", bytes);
            if let Some(kind) = kind {
                response
                    .headers_mut()
                    .insert("x-amzn-errortype", kind.parse().expect("header"));
            }
            response
        };
        if status != 200 {
            // moto does not know the tasks of services: those live here only.
            if op == "DescribeTasks" {
                return reply(
                    200,
                    &self.describe_tasks(&body, json!({ "tasks": [], "failures": [] })),
                );
            }
            return passthrough(status, bytes, kind);
        }
        let mut value: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        match op.as_str() {
            "RunTask" => {
                for task in value["tasks"].as_array().cloned().unwrap_or_default() {
                    let arn = task["taskArn"].as_str().unwrap_or_default().to_string();
                    let container = body["overrides"]["containerOverrides"][0]["name"]
                        .as_str()
                        .map(str::to_owned);
                    let command: Option<Vec<String>> =
                        body["overrides"]["containerOverrides"][0]["command"]
                            .as_array()
                            .map(|c| {
                                c.iter()
                                    .filter_map(|s| s.as_str().map(str::to_owned))
                                    .collect()
                            });
                    let td = task["taskDefinitionArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let cluster = task["clusterArn"].as_str().unwrap_or_default().to_string();
                    let group = body["startedBy"].as_str().unwrap_or("run-task").to_string();
                    self.clone()
                        .launch(arn, cluster, td, group, None, None, container, command)
                        .await;
                }
                value = self.describe_tasks(&json!({}), value);
            }
            "DescribeTasks" => value = self.describe_tasks(&body, value),
            "DescribeServices" => self.patch_services(&mut value),
            _ => {}
        }
        reply(200, &value)
    }

    /// moto's task list plus this stand-in's view of each task.
    fn describe_tasks(&self, request: &Value, mut value: Value) -> Value {
        let state = self.state.lock().expect("not poisoned");
        let mut tasks = value["tasks"].as_array().cloned().unwrap_or_default();
        let listed: Vec<String> = tasks
            .iter()
            .filter_map(|t| t["taskArn"].as_str().map(str::to_owned))
            .collect();
        for wanted in request["tasks"].as_array().cloned().unwrap_or_default() {
            let wanted = wanted.as_str().unwrap_or_default();
            if let Some(task) = state
                .tasks
                .values()
                .find(|t| t.arn == wanted || tail(&t.arn) == wanted)
                && !listed.contains(&task.arn)
            {
                tasks.push(json!({ "taskArn": task.arn }));
            }
        }
        for task in &mut tasks {
            let arn = task["taskArn"].as_str().unwrap_or_default().to_string();
            let Some(known) = state.tasks.get(&arn) else {
                continue;
            };
            task["lastStatus"] = json!(known.last_status);
            task["desiredStatus"] = json!(if known.last_status == "STOPPED" {
                "STOPPED"
            } else {
                "RUNNING"
            });
            task["taskDefinitionArn"] = json!(known.task_definition);
            task["clusterArn"] = json!(known.cluster);
            task["group"] = json!(known.group);
            task["createdAt"] = json!(known.created_at);
            task["launchType"] = json!("FARGATE");
            if let Some(reason) = &known.stopped_reason {
                task["stoppedReason"] = json!(reason);
                task["stopCode"] = json!("EssentialContainerExited");
            }
            task["containers"] = json!([{
                "name": known.container,
                "lastStatus": known.last_status,
                "exitCode": known.exit_code,
                "taskArn": known.arn,
            }]);
        }
        value["tasks"] = json!(tasks);
        value["failures"] = json!([]);
        value
    }

    fn list_service_tasks(&self, body: &Value) -> Value {
        let service = body["serviceName"].as_str().unwrap_or_default();
        let stopped = body["desiredStatus"].as_str() == Some("STOPPED");
        let state = self.state.lock().expect("not poisoned");
        let arns: Vec<&str> = state
            .tasks
            .values()
            .filter(|t| {
                t.service
                    .as_deref()
                    .is_some_and(|s| s == service || tail(s) == service)
            })
            .filter(|t| (t.last_status == "STOPPED") == stopped)
            .map(|t| t.arn.as_str())
            .collect();
        json!({ "taskArns": arns })
    }

    fn patch_services(&self, value: &mut Value) {
        let state = self.state.lock().expect("not poisoned");
        for service in value["services"].as_array_mut().into_iter().flatten() {
            let arn = service["serviceArn"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some(known) = state.services.get(&arn) else {
                // A service created a moment ago, which the scheduler has not seen yet: moto's
                // own deployment would be replaced by the scheduler's on its first pass.
                service["deployments"] = json!([]);
                service["runningCount"] = json!(0);
                continue;
            };
            let running = |d: &Deployment| {
                state
                    .tasks
                    .values()
                    .filter(|t| {
                        t.deployment.as_deref() == Some(d.id.as_str()) && t.last_status == "RUNNING"
                    })
                    .count()
            };
            let desired = service["desiredCount"].as_i64().unwrap_or(0);
            service["deployments"] = json!(known
                .deployments
                .iter()
                .map(|d| json!({
                    "id": d.id, "status": d.status, "taskDefinition": d.task_definition,
                    "desiredCount": desired, "runningCount": running(d),
                    "pendingCount": (desired - running(d) as i64).max(0),
                    "failedTasks": d.failed, "rolloutState": d.rollout_state,
                    "rolloutStateReason": d.reason, "createdAt": d.created_at, "updatedAt": now(),
                    "launchType": "FARGATE",
                }))
                .collect::<Vec<_>>());
            if let Some(primary) = known.deployments.iter().find(|d| d.status == "PRIMARY") {
                service["taskDefinition"] = json!(primary.task_definition);
                service["runningCount"] = json!(running(primary));
                service["pendingCount"] = json!((desired - running(primary) as i64).max(0));
            }
            service["events"] =
                json!(known
                .events
                .iter()
                .rev()
                .map(|(id, at, message)| json!({ "id": id, "createdAt": at, "message": message }))
                .collect::<Vec<_>>());
        }
    }

    /// Pulls the image once and returns its binary, extracted.
    async fn binary(&self, image: &str) -> Result<PathBuf, String> {
        let mut cache = self.binaries.lock().await;
        if let Some(path) = cache.get(image) {
            return Ok(path.clone());
        }
        let mut reference = Reference::parse(image).map_err(|e| e.to_string())?;
        let tag = reference.tag.clone().ok_or("image has no tag")?;
        reference.base = self.config.registry_url.clone();
        let mut client = registry::Client::new(reference, registry::Credentials::default());
        let pulled = client
            .pull(&tag)
            .await
            .map_err(|e| format!("CannotPullContainerError: {e}"))?;
        let layer = pulled.layers.first().ok_or("image has no layer")?;
        let (bytes, _) = layout::extract_file(layer, BINARY_PATH)
            .ok_or("image has no /usr/local/bin/faro-backend")?;
        // One file per digest: another tag of the same image may be running from it already
        // (rewriting a running executable fails with ETXTBSY), so write aside and rename.
        let path = self.config.work_dir.join(pulled.digest.replace(':', "-"));
        if !path.exists() {
            let partial = path.with_extension("partial");
            std::fs::write(&partial, bytes).map_err(|e| e.to_string())?;
            std::fs::set_permissions(
                &partial,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .map_err(|e| e.to_string())?;
            std::fs::rename(&partial, &path).map_err(|e| e.to_string())?;
        }
        cache.insert(image.to_string(), path.clone());
        Ok(path)
    }

    #[allow(clippy::too_many_arguments)]
    async fn launch(
        self: Arc<Self>,
        arn: String,
        cluster: String,
        task_definition: String,
        group: String,
        service: Option<String>,
        deployment: Option<String>,
        container: Option<String>,
        command: Option<Vec<String>>,
    ) {
        let td = self
            .moto(
                "DescribeTaskDefinition",
                &json!({ "taskDefinition": task_definition }),
            )
            .await;
        let def = td
            .as_ref()
            .map(|v| v["taskDefinition"]["containerDefinitions"][0].clone())
            .unwrap_or_default();
        let container_name =
            container.unwrap_or_else(|| def["name"].as_str().unwrap_or("backend").to_string());
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let task = Task {
            arn: arn.clone(),
            cluster,
            task_definition: td
                .as_ref()
                .ok()
                .and_then(|v| {
                    v["taskDefinition"]["taskDefinitionArn"]
                        .as_str()
                        .map(str::to_owned)
                })
                .unwrap_or(task_definition),
            group,
            container: container_name.clone(),
            service,
            deployment,
            port,
            last_status: "PROVISIONING".into(),
            exit_code: None,
            stopped_reason: None,
            created_at: now(),
            stopped_at: None,
            healthy: false,
            counted_failure: false,
        };
        self.state
            .lock()
            .expect("not poisoned")
            .tasks
            .insert(arn.clone(), task);
        let inner = self.clone();
        tokio::spawn(async move {
            let outcome = inner.run(&arn, &def, &container_name, port, command).await;
            let mut state = inner.state.lock().expect("not poisoned");
            state.pids.remove(&arn);
            if let Some(task) = state.tasks.get_mut(&arn) {
                task.last_status = "STOPPED".into();
                task.stopped_at = Some(now());
                match outcome {
                    Ok(code) => {
                        task.exit_code = code;
                        task.stopped_reason
                            .get_or_insert_with(|| "Essential container in task exited".into());
                    }
                    Err(reason) => task.stopped_reason = Some(reason),
                }
            }
        });
    }

    /// Runs the container to its end; `Ok(exit code)`, or `Err(reason)` when it never ran.
    async fn run(
        &self,
        arn: &str,
        def: &Value,
        container: &str,
        port: u16,
        command: Option<Vec<String>>,
    ) -> Result<Option<i32>, String> {
        let image = def["image"].as_str().unwrap_or_default();
        let binary = self.binary(image).await?;
        let args = command.unwrap_or_else(|| vec!["serve".into()]);
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.args(&args)
            .env_clear()
            .env("FARO_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for pair in def["environment"].as_array().into_iter().flatten() {
            if let (Some(k), Some(v)) = (pair["name"].as_str(), pair["value"].as_str())
                && k != "FARO_PORT"
            {
                cmd.env(k, v);
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("CannotStartContainerError: {e}"))?;
        if let Some(pid) = child.id() {
            self.state
                .lock()
                .expect("not poisoned")
                .pids
                .insert(arn.to_string(), pid);
        }
        if let Some(task) = self.state.lock().expect("not poisoned").tasks.get_mut(arn) {
            task.last_status = "RUNNING".into();
        }
        let group = def["logConfiguration"]["options"]["awslogs-group"]
            .as_str()
            .map(str::to_owned);
        let prefix = def["logConfiguration"]["options"]["awslogs-stream-prefix"]
            .as_str()
            .unwrap_or("ecs")
            .to_string();
        let stream = format!("{prefix}/{container}/{}", tail(arn));
        if let Some(group) = &group {
            let _ = self
                .logs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(&stream)
                .send()
                .await;
        }
        let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ]
        .into_iter()
        .flatten()
        {
            let tx = lines_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        drop(lines_tx);
        let logs = self.logs.clone();
        let shipper = tokio::spawn(async move {
            while let Some(line) = lines_rx.recv().await {
                let mut batch = vec![line];
                while let Ok(more) = lines_rx.try_recv() {
                    batch.push(more);
                }
                if let Some(group) = &group {
                    let ts = chrono::Utc::now().timestamp_millis();
                    let events = batch
                        .into_iter()
                        .map(|m| {
                            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                                .timestamp(ts)
                                .message(m)
                                .build()
                                .expect("fields set")
                        })
                        .collect();
                    let _ = logs
                        .put_log_events()
                        .log_group_name(group)
                        .log_stream_name(&stream)
                        .set_log_events(Some(events))
                        .send()
                        .await;
                }
            }
        });
        let status = child.wait().await.map_err(|e| e.to_string())?;
        let _ = shipper.await;
        Ok(status
            .code()
            .or_else(|| std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + s)))
    }

    fn stop(&self, arn: &str, reason: &str) {
        let mut state = self.state.lock().expect("not poisoned");
        if let Some(task) = state.tasks.get_mut(arn) {
            task.stopped_reason = Some(reason.to_string());
            // ECS deregisters a task from the target group before stopping it: the load
            // balancer no longer sends it requests while it shuts down.
            task.healthy = false;
        }
        if let Some(pid) = state.pids.get(arn) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// One pass of the scheduler over every service moto knows.
    async fn reconcile(self: &Arc<Self>) {
        let Ok(clusters) = self.moto("ListClusters", &json!({})).await else {
            return;
        };
        for cluster in clusters["clusterArns"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let Ok(listed) = self
                .moto("ListServices", &json!({ "cluster": cluster }))
                .await
            else {
                continue;
            };
            let arns = listed["serviceArns"].clone();
            if arns.as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            let Ok(described) = self
                .moto(
                    "DescribeServices",
                    &json!({ "cluster": cluster, "services": arns }),
                )
                .await
            else {
                continue;
            };
            for service in described["services"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if service["status"] != "ACTIVE" {
                    continue;
                }
                self.reconcile_service(cluster.as_str().unwrap_or_default(), &service)
                    .await;
            }
        }
    }

    async fn reconcile_service(self: &Arc<Self>, cluster: &str, service: &Value) {
        let arn = service["serviceArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = service["serviceName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let desired = service["desiredCount"].as_u64().unwrap_or(0) as usize;
        // moto may hold a family name: resolve it to the revision ARN.
        let Ok(td) = self
            .moto(
                "DescribeTaskDefinition",
                &json!({ "taskDefinition": service["taskDefinition"] }),
            )
            .await
        else {
            return;
        };
        let td = td["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut to_launch = Vec::new();
        let mut to_stop = Vec::new();
        let mut rollback_to = None;
        {
            let mut state = self.state.lock().expect("not poisoned");
            let State {
                tasks, services, ..
            } = &mut *state;
            let svc = services.entry(arn.clone()).or_default();
            let event = |svc: &mut Service, message: String| {
                svc.events.push((
                    format!("{:x}", fastrand::u64(..)),
                    now(),
                    format!("(service {name}) {message}"),
                ));
            };
            let primary_td = svc
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY")
                .map(|d| d.task_definition.clone());
            if primary_td.as_deref() != Some(td.as_str()) {
                for d in &mut svc.deployments {
                    if d.status == "PRIMARY" {
                        d.status = "ACTIVE".into();
                    }
                }
                let id = format!(
                    "ecs-svc/{}",
                    fastrand::u64(1_000_000_000_000..10_000_000_000_000)
                );
                svc.deployments.push(Deployment {
                    id: id.clone(),
                    task_definition: td.clone(),
                    status: "PRIMARY".into(),
                    rollout_state: "IN_PROGRESS".into(),
                    reason: format!("ECS deployment {id} in progress."),
                    failed: 0,
                    created_at: now(),
                });
                event(
                    svc,
                    format!("has started deployment {id} of {}.", tail(&td)),
                );
            }
            let primary = svc
                .deployments
                .iter_mut()
                .find(|d| d.status == "PRIMARY")
                .expect("just ensured");
            let ours: Vec<&mut Task> = tasks
                .values_mut()
                .filter(|t| t.deployment.as_deref() == Some(primary.id.as_str()))
                .collect();
            let mut newly_failed = Vec::new();
            for task in ours {
                if task.last_status == "STOPPED"
                    && !task.counted_failure
                    && task.stopped_reason.as_deref() != Some("deployment replaced")
                {
                    task.counted_failure = true;
                    newly_failed.push(task.arn.clone());
                }
            }
            let primary_id = primary.id.clone();
            let live = tasks
                .values()
                .filter(|t| {
                    t.deployment.as_deref() == Some(primary_id.as_str())
                        && t.last_status != "STOPPED"
                })
                .count();
            let healthy = tasks
                .values()
                .filter(|t| {
                    t.deployment.as_deref() == Some(primary_id.as_str())
                        && t.last_status == "RUNNING"
                        && t.healthy
                })
                .count();
            let primary = svc
                .deployments
                .iter_mut()
                .find(|d| d.status == "PRIMARY")
                .expect("just ensured");
            primary.failed += newly_failed.len() as u32;
            let in_progress = primary.rollout_state == "IN_PROGRESS";
            let failed_now = in_progress && primary.failed >= FAILED_TASK_THRESHOLD;
            let completed_now = in_progress && healthy >= desired;
            if failed_now {
                primary.rollout_state = "FAILED".into();
                primary.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
                primary.status = "INACTIVE".into();
                let failed_id = primary.id.clone();
                for t in tasks.values().filter(|t| {
                    t.deployment.as_deref() == Some(failed_id.as_str())
                        && t.last_status != "STOPPED"
                }) {
                    to_stop.push(t.arn.clone());
                }
                for arn in &newly_failed {
                    event(
                        svc,
                        format!("has stopped 1 running tasks: (task {}).", tail(arn)),
                    );
                }
                event(
                    svc,
                    format!("(deployment {failed_id}) deployment failed: tasks failed to start."),
                );
                if let Some(previous) = svc
                    .deployments
                    .iter_mut()
                    .rev()
                    .find(|d| d.status == "ACTIVE")
                {
                    previous.status = "PRIMARY".into();
                    previous.rollout_state = "COMPLETED".into();
                    let (pid, ptd) = (previous.id.clone(), previous.task_definition.clone());
                    event(svc, format!("rolling back to deployment {pid}."));
                    rollback_to = Some(ptd);
                }
            } else {
                let stopped: Vec<String> = newly_failed
                    .iter()
                    .map(|arn| format!("has stopped 1 running tasks: (task {}).", tail(arn)))
                    .collect();
                if completed_now {
                    primary.rollout_state = "COMPLETED".into();
                    primary.reason = format!("ECS deployment {primary_id} completed.");
                    let old: Vec<String> = svc
                        .deployments
                        .iter()
                        .filter(|d| d.status == "ACTIVE")
                        .map(|d| d.id.clone())
                        .collect();
                    for t in tasks.values().filter(|t| {
                        t.deployment.as_ref().is_some_and(|d| old.contains(d))
                            && t.last_status != "STOPPED"
                    }) {
                        to_stop.push(t.arn.clone());
                    }
                    svc.deployments.retain(|d| d.status == "PRIMARY");
                    for message in stopped {
                        event(svc, message);
                    }
                    event(
                        svc,
                        format!("(deployment {primary_id}) deployment completed."),
                    );
                    event(svc, "has reached a steady state.".into());
                } else if in_progress || live < desired {
                    for message in stopped {
                        event(svc, message);
                    }
                    for _ in live..desired {
                        let task_arn = format!(
                            "{}/task/{}",
                            cluster.replace(":cluster/", ":task/"),
                            uuid_like()
                        );
                        to_launch.push((task_arn, primary_id.clone()));
                    }
                    if !to_launch.is_empty() {
                        let ids: Vec<String> = to_launch
                            .iter()
                            .map(|(a, _)| format!("(task {})", tail(a)))
                            .collect();
                        event(
                            svc,
                            format!("has started {} tasks: {}.", to_launch.len(), ids.join(" ")),
                        );
                    }
                }
            }
        }
        for arn in to_stop {
            self.stop(&arn, "deployment replaced");
        }
        if let Some(previous) = rollback_to {
            let _ = self
                .moto(
                    "UpdateService",
                    &json!({ "cluster": cluster, "service": arn, "taskDefinition": previous }),
                )
                .await;
        }
        for (task_arn, deployment) in to_launch {
            self.clone()
                .launch(
                    task_arn,
                    cluster.to_string(),
                    td.clone(),
                    format!("service:{name}"),
                    Some(arn.clone()),
                    Some(deployment),
                    None,
                    None,
                )
                .await;
        }
        self.check_health().await;
    }

    /// The target group's health check: `GET /readyz` on each running, not yet healthy task.
    async fn check_health(&self) {
        let candidates: Vec<(String, u16)> = {
            let state = self.state.lock().expect("not poisoned");
            state
                .tasks
                .values()
                .filter(|t| {
                    t.service.is_some()
                        && t.last_status == "RUNNING"
                        && !t.healthy
                        && t.stopped_reason.is_none()
                })
                .map(|t| (t.arn.clone(), t.port))
                .collect()
        };
        for (arn, port) in candidates {
            let ok = self
                .http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok
                && let Some(task) = self.state.lock().expect("not poisoned").tasks.get_mut(&arn)
                && task.stopped_reason.is_none()
            {
                task.healthy = true;
            }
        }
    }

    /// The load balancer: any healthy running service task.
    async fn balance(&self, req: Req) -> hyper::Response<http_body_util::Full<Bytes>> {
        let ports: Vec<u16> = {
            let state = self.state.lock().expect("not poisoned");
            state
                .tasks
                .values()
                .filter(|t| t.service.is_some() && t.last_status == "RUNNING" && t.healthy)
                .map(|t| t.port)
                .collect()
        };
        if ports.is_empty() {
            return respond(503, "text/html", "503 Service Temporarily Unavailable");
        }
        let port = ports[fastrand::usize(..ports.len())];
        let query = if req.query.is_empty() {
            String::new()
        } else {
            format!("?{}", req.query)
        };
        let url = format!("http://127.0.0.1:{port}{}{query}", req.path);
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        match self.http.request(method, url).body(req.body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let ct = serve::header(response.headers(), "content-type")
                    .unwrap_or("text/plain")
                    .to_string();
                respond(status, &ct, response.bytes().await.unwrap_or_default())
            }
            Err(_) => respond(502, "text/html", "502 Bad Gateway"),
        }
    }
}

fn uuid_like() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
