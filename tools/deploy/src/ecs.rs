//! ECS: the migration as a one-off Fargate task of the new image, and the watch of a service
//! deployment (events, stopped tasks with their reasons and last log lines, the circuit breaker).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, LaunchType,
    NetworkConfiguration, TaskOverride,
};

use crate::Hint;
use crate::aws::{Aws, sdk};
use crate::logs;
use crate::poll::Pace;

/// How often the wait on a task looks again.
const TASK_PACE: Pace = Pace {
    settle: Duration::from_secs(20),
    quick: Duration::from_millis(300),
    slow: Duration::from_secs(3),
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ECS {call} failed: {detail}")]
    Call { call: &'static str, detail: String },
    #[error("the migration task could not start: {0}")]
    NotStarted(String),
    #[error("the migration ended with {outcome}")]
    MigrationFailed {
        outcome: String,
        log_lines: Vec<String>,
    },
    #[error("the migration did not finish within {} s", .0.as_secs())]
    MigrationTimedOut(Duration),
    #[error("the deployment of {service} failed: {reason}")]
    RolloutFailed { service: String, reason: String },
    #[error("gave up on the deployment of {service}: {why}")]
    GaveUp { service: String, why: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Call { .. } => "check the AWS credentials and region; rerun to retry".into(),
            Self::NotStarted(_) => {
                "check the subnets, security group and execution role of the service stack (`cargo xtask status --env …`)".into()
            }
            Self::MigrationFailed { .. } => {
                "the log lines above say why; fix the migration or the database, then rerun the deploy (nothing was switched to the new image)".into()
            }
            Self::MigrationTimedOut(_) => {
                "look at the task's logs: `cargo xtask logs --env … --since 30m`; a lock held by a running task can block DDL".into()
            }
            Self::RolloutFailed { .. } | Self::GaveUp { .. } => {
                "the stopped tasks' reasons and log lines above say why; fix and deploy again, or return to an earlier image: `cargo xtask rollback --env …`".into()
            }
        })
    }
}

fn call(name: &'static str) -> impl Fn(String) -> Error {
    move |detail| Error::Call { call: name, detail }
}

/// The last path segment of an ARN (a task id, a task definition `family:revision`).
pub fn arn_tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Where a one-off task runs: the service's cluster, subnets and security group.
#[derive(Debug, Clone)]
pub struct Placement {
    pub cluster: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub container: String,
    pub log_group: String,
}

/// Runs `faro-backend migrate` from `image` as a one-off task: a copy of the service stack's
/// migration task definition (its own role, which alone may read the database master secret)
/// with the new image (family `<family>-migrate`), in the private subnets.
pub async fn migrate(
    aws: &Aws,
    placement: &Placement,
    migration_task_definition: &str,
    image: &str,
    limit: Duration,
) -> Result<String, Error> {
    let described = sdk!(
        aws.ecs
            .describe_task_definition()
            .task_definition(migration_task_definition),
        call("DescribeTaskDefinition")
    )?;
    let td = described
        .task_definition()
        .ok_or_else(|| Error::NotStarted("the migration task definition is gone".into()))?;
    let family = format!("{}-migrate", td.family().unwrap_or("faro-backend"));
    let containers = td
        .container_definitions()
        .iter()
        .cloned()
        .map(|mut c| {
            if c.name.as_deref() == Some(placement.container.as_str()) {
                c.image = Some(image.to_string());
                // A one-off task is not behind the load balancer and has no health to report.
                c.health_check = None;
            }
            c
        })
        .collect();
    let registered = sdk!(
        aws.ecs
            .register_task_definition()
            .family(&family)
            .set_container_definitions(Some(containers))
            .set_cpu(td.cpu().map(str::to_owned))
            .set_memory(td.memory().map(str::to_owned))
            .set_network_mode(td.network_mode().cloned())
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
            .set_task_role_arn(td.task_role_arn().map(str::to_owned))
            .set_runtime_platform(td.runtime_platform().cloned())
            .set_volumes(Some(td.volumes().to_vec())),
        call("RegisterTaskDefinition")
    )?;
    let migrate_td = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_string();
    let outcome = run_migration(aws, placement, &migrate_td, limit).await;
    // Revisions of the migrate family are only ever used once.
    let _ = aws
        .ecs
        .deregister_task_definition()
        .task_definition(&migrate_td)
        .send()
        .await;
    outcome
}

async fn run_migration(
    aws: &Aws,
    placement: &Placement,
    task_definition: &str,
    limit: Duration,
) -> Result<String, Error> {
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(placement.subnets.clone()))
                .set_security_groups(Some(placement.security_groups.clone()))
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .map_err(|e| Error::NotStarted(e.to_string()))?,
        )
        .build();
    let run = sdk!(
        aws.ecs
            .run_task()
            .cluster(&placement.cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name(&placement.container)
                            .command("migrate")
                            .build(),
                    )
                    .build(),
            )
            .started_by("faro-deploy"),
        call("RunTask")
    )?;
    if let Some(failure) = run.failures().first() {
        return Err(Error::NotStarted(format!(
            "{} {}",
            failure.reason().unwrap_or_default(),
            failure.detail().unwrap_or_default()
        )));
    }
    let task_arn = run
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .ok_or_else(|| Error::NotStarted("RunTask returned no task".into()))?
        .to_string();
    let task_id = arn_tail(&task_arn).to_string();
    println!("    task {task_id} started");
    let started = Instant::now();
    let mut last_status = String::new();
    loop {
        let out = sdk!(
            aws.ecs
                .describe_tasks()
                .cluster(&placement.cluster)
                .tasks(&task_arn),
            call("DescribeTasks")
        )?;
        let Some(task) = out.tasks().first() else {
            return Err(Error::NotStarted(format!("task {task_id} vanished")));
        };
        let status = task.last_status().unwrap_or_default().to_string();
        if status != last_status {
            println!("    task {task_id}: {status}");
            last_status = status.clone();
        }
        if status == "STOPPED" {
            let container = task
                .containers()
                .iter()
                .find(|c| c.name() == Some(placement.container.as_str()));
            let exit = container.and_then(|c| c.exit_code());
            if exit == Some(0) {
                return Ok(task_id);
            }
            let outcome = match exit {
                Some(code) => format!("exit code {code}"),
                None => format!(
                    "no exit code ({})",
                    container
                        .and_then(|c| c.reason())
                        .or(task.stopped_reason())
                        .unwrap_or("stopped before the container ran")
                ),
            };
            let lines = logs::task_lines(
                aws,
                &placement.log_group,
                &placement.container,
                &task_id,
                40,
            )
            .await
            .unwrap_or_default();
            println!("    last log lines of task {task_id}:");
            for line in &lines {
                println!("      | {line}");
            }
            return Err(Error::MigrationFailed {
                outcome,
                log_lines: lines,
            });
        }
        if started.elapsed() > limit {
            let _ = aws
                .ecs
                .stop_task()
                .cluster(&placement.cluster)
                .task(&task_arn)
                .reason("faro-deploy: migration timed out")
                .send()
                .await;
            return Err(Error::MigrationTimedOut(limit));
        }
        TASK_PACE.pause(started).await;
    }
}

/// Limits of a deployment watch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_failed_tasks: u32,
}

/// How a watched deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Still going.
    InProgress,
    /// The new task definition runs everywhere.
    Completed { task_definition: String },
}

/// Watches the deployments of one service, one poll per [`Watch::tick`].
#[derive(Debug)]
pub struct Watch {
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub log_group: String,
    /// The task definition running before; a PRIMARY deployment of another one is ours.
    pub previous_task_definition: Option<String>,
    pub limits: Limits,
    started: Instant,
    since: aws_sdk_ecs::primitives::DateTime,
    seen_events: BTreeSet<String>,
    seen_stopped: BTreeSet<String>,
    ours: Option<String>,
    last_progress: String,
}

impl Watch {
    pub fn new(
        placement: &Placement,
        service: &str,
        previous_task_definition: Option<String>,
        limits: Limits,
    ) -> Self {
        Self {
            cluster: placement.cluster.clone(),
            service: service.to_string(),
            container: placement.container.clone(),
            log_group: placement.log_group.clone(),
            previous_task_definition,
            limits,
            started: Instant::now(),
            since: aws_sdk_ecs::primitives::DateTime::from(
                std::time::SystemTime::now() - Duration::from_secs(2),
            ),
            seen_events: BTreeSet::new(),
            seen_stopped: BTreeSet::new(),
            ours: None,
            last_progress: String::new(),
        }
    }

    /// The deployment id this watch follows, once it appeared.
    pub fn deployment(&self) -> Option<&str> {
        self.ours.as_deref()
    }

    pub async fn tick(&mut self, aws: &Aws) -> Result<Rollout, Error> {
        let out = sdk!(
            aws.ecs
                .describe_services()
                .cluster(&self.cluster)
                .services(&self.service),
            call("DescribeServices")
        )?;
        let Some(service) = out.services().first() else {
            return Ok(Rollout::InProgress);
        };
        // Service events, oldest first, only those of this deploy.
        let mut events: Vec<_> = service
            .events()
            .iter()
            .filter(|e| {
                e.created_at()
                    .is_some_and(|t| t.secs() >= self.since.secs())
            })
            .collect();
        events.reverse();
        for event in events {
            let id = event.id().unwrap_or_default().to_string();
            if self.seen_events.insert(id) {
                println!("    ecs: {}", event.message().unwrap_or_default());
            }
        }
        let primary = service
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let Some(primary) = primary else {
            return Ok(Rollout::InProgress);
        };
        let primary_td = primary.task_definition().unwrap_or_default().to_string();
        let primary_id = primary.id().unwrap_or_default().to_string();
        if self.ours.is_none() && Some(&primary_td) != self.previous_task_definition.as_ref() {
            println!("    deployment {primary_id} of {}", arn_tail(&primary_td));
            self.ours = Some(primary_id.clone());
        }
        let failed = u32::try_from(primary.failed_tasks()).unwrap_or(0);
        if let Some(ours) = &self.ours {
            if *ours != primary_id {
                // ECS replaced our deployment: the circuit breaker rolled back.
                let reason = service
                    .deployments()
                    .iter()
                    .find(|d| d.id() == Some(ours.as_str()))
                    .and_then(|d| d.rollout_state_reason())
                    .unwrap_or("ECS rolled back to the previous deployment")
                    .to_string();
                self.report_stopped(aws, &primary_td, true).await?;
                return Err(Error::RolloutFailed {
                    service: self.service.clone(),
                    reason: format!("circuit breaker: {reason}"),
                });
            }
            let progress = format!(
                "    {}: {} running of {}, {} pending, {} failed ({})",
                arn_tail(&primary_td),
                primary.running_count(),
                primary.desired_count(),
                primary.pending_count(),
                failed,
                primary.rollout_state().map(|s| s.as_str()).unwrap_or("?"),
            );
            if progress != self.last_progress {
                println!("{progress}");
                self.last_progress = progress;
            }
        }
        self.report_stopped(aws, &primary_td, false).await?;
        if self.ours.is_some() {
            match primary.rollout_state().map(|s| s.as_str()) {
                Some("COMPLETED") if primary.running_count() >= primary.desired_count() => {
                    return Ok(Rollout::Completed {
                        task_definition: primary_td,
                    });
                }
                Some("FAILED") => {
                    return Err(Error::RolloutFailed {
                        service: self.service.clone(),
                        reason: primary
                            .rollout_state_reason()
                            .unwrap_or("the deployment failed")
                            .to_string(),
                    });
                }
                _ => {}
            }
            if failed >= self.limits.max_failed_tasks {
                return Err(Error::GaveUp {
                    service: self.service.clone(),
                    why: format!(
                        "{failed} tasks failed (limit {})",
                        self.limits.max_failed_tasks
                    ),
                });
            }
        }
        if self.started.elapsed() > self.limits.timeout {
            return Err(Error::GaveUp {
                service: self.service.clone(),
                why: format!("not stable after {} s", self.limits.timeout.as_secs()),
            });
        }
        Ok(Rollout::InProgress)
    }

    /// Prints newly stopped tasks of `task_definition` with their reasons; with `logs`, or for
    /// a task that failed, the last log lines too.
    async fn report_stopped(
        &mut self,
        aws: &Aws,
        task_definition: &str,
        all: bool,
    ) -> Result<(), Error> {
        let listed = sdk!(
            aws.ecs
                .list_tasks()
                .cluster(&self.cluster)
                .service_name(&self.service)
                .desired_status(DesiredStatus::Stopped),
            call("ListTasks")
        )?;
        let new: Vec<String> = listed
            .task_arns()
            .iter()
            .filter(|a| !self.seen_stopped.contains(*a))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let described = sdk!(
            aws.ecs
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(new.clone())),
            call("DescribeTasks")
        )?;
        for task in described.tasks() {
            let arn = task.task_arn().unwrap_or_default().to_string();
            if task.last_status() != Some("STOPPED") {
                continue;
            }
            self.seen_stopped.insert(arn.clone());
            let ours = all || task.task_definition_arn() == Some(task_definition);
            if !ours
                || task
                    .created_at()
                    .is_some_and(|t| t.secs() < self.since.secs())
            {
                continue;
            }
            let container = task
                .containers()
                .iter()
                .find(|c| c.name() == Some(self.container.as_str()));
            let exit = container
                .and_then(|c| c.exit_code())
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default();
            let id = arn_tail(&arn).to_string();
            println!(
                "    task {id} stopped: {}{exit}",
                task.stopped_reason().unwrap_or("no reason given")
            );
            if container.and_then(|c| c.exit_code()) != Some(0) {
                let lines = logs::task_lines(aws, &self.log_group, &self.container, &id, 15)
                    .await
                    .unwrap_or_default();
                for line in lines {
                    println!("      | {line}");
                }
            }
        }
        Ok(())
    }
}

/// What runs now: the service's PRIMARY task definition and its counts.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<String>,
}

pub async fn service_state(
    aws: &Aws,
    cluster: &str,
    service: &str,
) -> Result<Option<ServiceState>, Error> {
    let out = sdk!(
        aws.ecs
            .describe_services()
            .cluster(cluster)
            .services(service),
        call("DescribeServices")
    )?;
    let Some(s) = out.services().first() else {
        return Ok(None);
    };
    Ok(Some(ServiceState {
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        desired: s.desired_count(),
        running: s.running_count(),
        pending: s.pending_count(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| {
                format!(
                    "{} {} {}: {}/{} running, {} failed{}",
                    d.status().unwrap_or_default(),
                    d.id().unwrap_or_default(),
                    arn_tail(d.task_definition().unwrap_or_default()),
                    d.running_count(),
                    d.desired_count(),
                    d.failed_tasks(),
                    d.rollout_state()
                        .map(|r| format!(" ({})", r.as_str()))
                        .unwrap_or_default()
                )
            })
            .collect(),
    }))
}

/// The image of the container `container` in a task definition.
pub async fn image_of(
    aws: &Aws,
    task_definition: &str,
    container: &str,
) -> Result<Option<String>, Error> {
    let out = sdk!(
        aws.ecs
            .describe_task_definition()
            .task_definition(task_definition),
        call("DescribeTaskDefinition")
    )?;
    Ok(out.task_definition().and_then(|td| {
        td.container_definitions()
            .iter()
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.image())
            .map(str::to_owned)
    }))
}
