//! `cargo xtask deploy --env NAME [--plan] [--yes]`: one command that ships the image, the
//! stacks, the database schema, the service and the frontend, in that order, and says plainly
//! when something failed.
//!
//! 1. preflight: account and region, clean tree, complete parameters, secrets
//! 2. image built and pushed before any infrastructure changes; frontend built
//! 3. every stack: change set, readable diff (stateful replacements refused without --yes);
//!    `--plan` stops here; else execute and stream events. The service stack keeps its current
//!    image here, so that infrastructure changes and the image switch are separate steps. On
//!    the first deploy the service stack is created without its ECS service (`StartService`
//!    false): the cluster, task definition and load balancer exist, no task runs yet.
//! 4. migrations: a one-off task of the new image, before any task of it can take traffic
//! 5. the service switches to the new image (or, on the first deploy, is created with it); the
//!    ECS deployment is watched
//! 6. the frontend is published on Amplify
//! 7. smoke test through the public endpoints; on failure the service goes back to the
//!    previous image
//! 8. summary

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faro_infra_model::manifest::{
    FRONTEND_STACK, IMAGE_TAG, REGISTRY_STACK, SERVICE_STACK, START_SERVICE,
};
use faro_infra_model::{Environment, StackEntry};

use crate::aws::Aws;
use crate::cfn::{self, Planned, StackInfo};
use crate::ecs::{self, Limits, Placement};
use crate::git::{self, Commit};
use crate::image::{self, build::Target, layout::Image};
use crate::registry::{self, Reference};
use crate::{Error, frontend, preflight, smoke};

#[derive(Debug, Clone)]
pub struct Options {
    pub env: String,
    pub plan: bool,
    pub yes: bool,
    pub allow_dirty: bool,
    /// The workspace (git checkout).
    pub root: PathBuf,
    pub infra_dir: PathBuf,
    pub target_dir: PathBuf,
    /// A built image layout to ship instead of building one.
    pub image_dir: Option<PathBuf>,
    /// A built frontend (`dist/`) to ship instead of building one.
    pub frontend_dir: Option<PathBuf>,
    pub limits: Limits,
    pub stack_timeout: Duration,
    pub migration_timeout: Duration,
    pub smoke_within: Duration,
    /// How long the smoke test waits for the app's domain (DNS and certificate).
    pub domain_within: Duration,
}

/// Durations of the steps, for the summary.
#[derive(Debug, Default)]
struct Steps(Vec<(String, Duration, String)>);

impl Steps {
    fn done(&mut self, name: &str, started: Instant, note: impl Into<String>) {
        let note = note.into();
        println!(
            "  ✓ {name} ({:.1} s){}",
            started.elapsed().as_secs_f64(),
            if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            }
        );
        self.0.push((name.to_string(), started.elapsed(), note));
    }

    fn print(&self, total: Duration) {
        for (name, took, note) in &self.0 {
            println!("  {name:<12} {:>7.1} s  {note}", took.as_secs_f64());
        }
        println!("  {:<12} {:>7.1} s", "total", total.as_secs_f64());
    }
}

fn header(n: u32, text: &str) {
    println!("\n[{n}/8] {text}");
}

/// What the summary reports.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub image: Option<String>,
    pub digest: Option<String>,
    pub api_url: Option<String>,
    pub app_url: Option<String>,
    pub changed_stacks: Vec<String>,
}

/// Parameters for `stack`: the env file's plus the deploy's own where the stack takes them
/// (the image tag, and whether the ECS service exists yet).
pub fn stack_parameters(
    env: &Environment,
    stack: &StackEntry,
    image_tag: &str,
    start_service: bool,
) -> BTreeMap<String, String> {
    let mut parameters = env.parameters(&stack.name);
    if stack.deploy_parameters.iter().any(|p| p == IMAGE_TAG) {
        parameters.insert(IMAGE_TAG.into(), image_tag.to_string());
    }
    if stack.deploy_parameters.iter().any(|p| p == START_SERVICE) {
        parameters.insert(START_SERVICE.into(), start_service.to_string());
    }
    parameters
}

/// Whether the service stack's ECS service exists: false before the service stack exists, and
/// while a first deploy has not got past its migrations.
pub fn service_started(service_stack: Option<&StackInfo>) -> bool {
    service_stack
        .is_some_and(|s| s.parameters.get(START_SERVICE).map(String::as_str) != Some("false"))
}

/// A stack whose creation failed was rolled back to nothing and can only be deleted.
fn refuse_failed_creation(
    env: &Environment,
    stack: &StackEntry,
    current: Option<&StackInfo>,
) -> Result<(), Error> {
    match current {
        Some(info) if info.status == "ROLLBACK_COMPLETE" => Err(Error::CreationFailed {
            stack: info.name.clone(),
            env: env.name.clone(),
            short: stack.name.clone(),
            stateful: stack.stateful,
        }),
        _ => Ok(()),
    }
}

fn change_set_name(commit: &Commit) -> String {
    format!(
        "faro-{}-{}",
        commit.short(),
        chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
    )
}

/// Plans `stack` with `image_tag` (and, for the service stack, its ECS service started or not).
async fn plan_stack(
    aws: &Aws,
    env: &Environment,
    stack: &StackEntry,
    (image_tag, start_service): (&str, bool),
    name: &str,
    current: Option<&StackInfo>,
) -> Result<Option<Planned>, Error> {
    refuse_failed_creation(env, stack, current)?;
    let body = env.template_body(stack)?;
    let parameters = stack_parameters(env, stack, image_tag, start_service);
    let tags = env.tags();
    let request = cfn::Request {
        stack: &env.stack_name(&stack.name),
        template_body: &body,
        parameters: &parameters,
        capabilities: &stack.capabilities,
        tags: &tags,
        change_set_name: name,
    };
    Ok(cfn::plan(aws, &request, current).await?)
}

fn print_plan(planned: &Option<Planned>, stack_name: &str) {
    match planned {
        None => println!("  {stack_name}: no changes"),
        Some(p) => {
            println!(
                "  {stack_name}: {}{}",
                if p.creates_stack { "new stack, " } else { "" },
                p.diff.counts()
            );
            print!("{}", p.diff.render());
        }
    }
}

/// The export values a deploy needs after the stacks exist.
struct Exports(BTreeMap<String, String>, String);

impl Exports {
    async fn load(aws: &Aws, env: &Environment) -> Result<Self, Error> {
        Ok(Self(cfn::exports(aws).await?, env.name.clone()))
    }

    fn get(&self, suffix: &str) -> Result<&str, Error> {
        let name = format!("faro-{}-{suffix}", self.1);
        self.0
            .get(&name)
            .map(String::as_str)
            .ok_or(Error::MissingExport(name))
    }

    fn placement(&self) -> Result<Placement, Error> {
        Ok(Placement {
            cluster: self.get("cluster-name")?.to_string(),
            subnets: self
                .get("private-subnet-ids")?
                .split(',')
                .map(str::to_owned)
                .collect(),
            security_groups: vec![self.get("service-sg")?.to_string()],
            container: self.get("container-name")?.to_string(),
            log_group: self.get("log-group-name")?.to_string(),
        })
    }
}

/// Executes a planned change set and follows it; for the service stack the ECS deployment is
/// watched at the same time, and a failed rollout is undone.
async fn apply(
    aws: &Aws,
    env: &Environment,
    planned: &Planned,
    options: &Options,
    previous_params: Option<&StackInfo>,
) -> Result<(), Error> {
    let total = planned.diff.changes.len() + 1;
    let marker = cfn::seen_events(aws, &planned.stack).await;
    let is_service = planned.stack == env.stack_name(SERVICE_STACK);
    // A new parameter value may reach the task definition even where the diff cannot tell.
    let touches_service = is_service
        && (!planned.diff.parameters.is_empty()
            || planned.diff.changes.iter().any(|c| {
                matches!(
                    c.resource_type.as_str(),
                    "AWS::ECS::Service" | "AWS::ECS::TaskDefinition"
                )
            }));
    let mut watch = if touches_service && !planned.creates_stack {
        let exports = Exports::load(aws, env).await?;
        let placement = exports.placement()?;
        let service = exports.get("service-name")?.to_string();
        let previous = ecs::service_state(aws, &placement.cluster, &service)
            .await?
            .map(|s| s.task_definition);
        Some(ecs::Watch::new(
            &placement,
            &service,
            previous,
            options.limits,
        ))
    } else {
        None
    };
    cfn::execute(aws, planned).await?;
    let mut rollout_done = false;
    let mut rollout_error: Option<ecs::Error> = None;
    let watched = cfn::watch(
        aws,
        &planned.stack,
        marker,
        total,
        options.stack_timeout,
        async || {
            if let Some(watch) = watch.as_mut()
                && !rollout_done
                && rollout_error.is_none()
            {
                match watch.tick(aws).await {
                    Ok(ecs::Rollout::Completed { .. }) => rollout_done = true,
                    Ok(ecs::Rollout::InProgress) => {}
                    Err(e) => {
                        println!("    ✗ {e}");
                        rollout_error = Some(e);
                        // CloudFormation would wait for the service for hours: stop it now.
                        let _ = cfn::cancel_update(aws, &planned.stack).await;
                    }
                }
            }
            Ok(())
        },
    )
    .await;
    if let Some(e) = rollout_error {
        settle_after_failed_rollout(aws, env, &planned.stack, previous_params, options).await?;
        return Err(e.into());
    }
    let info = watched?;
    // CloudFormation may finish before ECS has (it need not wait for a stable service).
    if let Some(watch) = watch.as_mut() {
        let started = Instant::now();
        while !rollout_done {
            match watch.tick(aws).await {
                Ok(ecs::Rollout::Completed { .. }) => rollout_done = true,
                Ok(ecs::Rollout::InProgress) => {
                    if watch.deployment().is_none() && started.elapsed() > Duration::from_secs(20) {
                        // No new deployment appeared: the change did not restart tasks.
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    println!("    ✗ {e}");
                    settle_after_failed_rollout(aws, env, &info.name, previous_params, options)
                        .await?;
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// After a failed rollout the stack must describe what runs again. CloudFormation rolls back
/// by itself when its update failed or was cancelled; when it had already finished, the
/// previous parameters are applied again.
async fn settle_after_failed_rollout(
    aws: &Aws,
    env: &Environment,
    stack: &str,
    previous: Option<&StackInfo>,
    options: &Options,
) -> Result<(), Error> {
    // Wait for whatever CloudFormation does now (a rollback after the cancel).
    let settled = cfn::watch(
        aws,
        stack,
        cfn::seen_events(aws, stack).await,
        1,
        options.stack_timeout,
        async || Ok(()),
    )
    .await;
    let Some(previous) = previous else {
        return Ok(());
    };
    let now = cfn::describe_stack(aws, stack).await?;
    let rolled_back = matches!(settled, Err(Error::Cfn(cfn::Error::StackFailed { .. })))
        || now
            .as_ref()
            .is_some_and(|s| s.status == "UPDATE_ROLLBACK_COMPLETE");
    if rolled_back {
        println!("    CloudFormation rolled {stack} back to its previous state");
        return Ok(());
    }
    println!("    restoring the previous parameters of {stack}");
    let tag = previous
        .parameters
        .get(IMAGE_TAG)
        .cloned()
        .unwrap_or_default();
    apply_service_parameters(
        aws,
        env,
        &previous.parameters,
        &tag,
        now.as_ref(),
        options,
        false,
    )
    .await
}

/// Applies the service stack with `parameters` (as a stack had them) and the image `tag`;
/// with `watch_rollout`, follows the ECS deployment like a deploy does.
pub async fn apply_service_parameters(
    aws: &Aws,
    env: &Environment,
    parameters: &BTreeMap<String, String>,
    tag: &str,
    current: Option<&StackInfo>,
    options: &Options,
    watch_rollout: bool,
) -> Result<(), Error> {
    let entry = env
        .stack(SERVICE_STACK)
        .ok_or(Error::MissingExport("service stack in stacks.json".into()))?;
    let mut with = env.clone();
    with.file.parameters.insert(
        SERVICE_STACK.into(),
        parameters
            .iter()
            .filter(|(k, _)| *k != IMAGE_TAG)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let name = format!(
        "faro-restore-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
    );
    let start = parameters.get(START_SERVICE).map(String::as_str) != Some("false");
    let Some(planned) = plan_stack(aws, &with, entry, (tag, start), &name, current).await? else {
        return Ok(());
    };
    print_plan(&Some(planned.clone()), &planned.stack);
    if watch_rollout {
        return Box::pin(apply(aws, &with, &planned, options, None)).await;
    }
    cfn::execute(aws, &planned).await?;
    let marker = cfn::seen_events(aws, &planned.stack).await;
    cfn::watch(
        aws,
        &planned.stack,
        marker,
        planned.diff.changes.len() + 1,
        options.stack_timeout,
        async || Ok(()),
    )
    .await?;
    Ok(())
}

/// Builds the image (or opens the given one) for the environment's architecture.
fn image_for(options: &Options, env: &Environment, commit: &Commit) -> Result<Image, Error> {
    let cpu = env
        .parameters(SERVICE_STACK)
        .get("CpuArchitecture")
        .cloned()
        .unwrap_or_else(|| "X86_64".into());
    let target = Target::for_ecs(&cpu)?;
    let image = match &options.image_dir {
        Some(dir) => image::layout::open(dir)?,
        None => image::build(&options.root, &options.target_dir, &target, commit, None)?,
    };
    if image.architecture != target.architecture {
        return Err(Error::Architecture {
            image: image.architecture.clone(),
            env: cpu,
        });
    }
    if image.revision() != Some(commit.sha.as_str()) {
        return Err(Error::StaleImage {
            image: image.revision().unwrap_or("none").to_string(),
            head: commit.sha.clone(),
        });
    }
    Ok(image)
}

/// Pushes unless the registry already has this tag with this digest.
pub async fn push(
    aws: &Aws,
    repository_uri: &str,
    image: &Image,
    tag: &str,
) -> Result<String, Error> {
    let mut reference = Reference::parse(repository_uri)?;
    let credentials = registry::ecr::credentials(aws).await?;
    if let Some(base) = registry_override() {
        reference.base = base;
    }
    let mut client = registry::Client::new(reference.clone(), credentials);
    match client.manifest(tag).await {
        Ok((_, digest)) if digest == image.manifest.digest => {
            println!("  {}:{tag} is already in the registry", reference.name());
            return Ok(format!("{repository_uri}:{tag}"));
        }
        Ok((_, digest)) => {
            return Err(Error::TagTaken {
                tag: tag.to_string(),
                digest,
            });
        }
        Err(_) => {}
    }
    let pushed = client.push(image, tag).await?;
    println!(
        "  pushed {} ({} blobs uploaded, {} already there, {:.1} s)",
        pushed.reference,
        pushed.uploaded.len(),
        pushed.skipped.len(),
        pushed.took.as_secs_f64()
    );
    Ok(format!("{repository_uri}:{tag}"))
}

/// `FARO_REGISTRY_URL`: a registry that stands in for the ECR host (the tests' local one).
pub fn registry_override() -> Option<String> {
    std::env::var("FARO_REGISTRY_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').to_string())
}

pub async fn run(options: &Options) -> Result<Outcome, Error> {
    let started = Instant::now();
    let mut steps = Steps::default();
    let mut outcome = Outcome::default();

    // 1. preflight
    header(1, "preflight");
    let t = Instant::now();
    let env = Environment::load(&options.infra_dir, &options.env)?;
    let commit = Commit::head(&options.root)?;
    preflight::clean_tree(&commit, options.allow_dirty || options.plan)?;
    let aws = Aws::connect(&env.file.region).await;
    let identity = preflight::identity(&aws).await?;
    println!(
        "  account {} in {}, as {}",
        identity.account, env.file.region, identity.arn
    );
    println!(
        "  commit {}{}",
        commit.short(),
        if commit.is_clean() {
            String::new()
        } else {
            format!(" with {} uncommitted changes", commit.dirty.len())
        }
    );
    preflight::parameters(&aws, &env).await?;
    let mut current = BTreeMap::new();
    for stack in &env.manifest.stacks {
        let name = env.stack_name(&stack.name);
        if let Some(info) = cfn::describe_stack(&aws, &name).await? {
            current.insert(stack.name.clone(), info);
        }
    }
    let mut warnings = Vec::new();
    if current.contains_key("data") {
        warnings = preflight::secrets(&aws, &env).await?;
    } else {
        println!(
            "  secrets: created by the data stack on this first deploy; store the DeepSeek key afterwards"
        );
    }
    for warning in &warnings {
        println!("  ! {warning}");
    }
    steps.done("preflight", t, format!("{} stacks exist", current.len()));

    // 2. image and frontend, before any infrastructure change
    header(2, "image and frontend");
    let t = Instant::now();
    let image = image_for(options, &env, &commit)?;
    let tag = git::image_tag(&commit, &image.manifest.digest);
    outcome.digest = Some(image.manifest.digest.clone());
    println!(
        "  image {} ({:.1} MB compressed, {:.1} MB uncompressed), tag {tag}",
        image.manifest.digest,
        image.compressed_size() as f64 / 1e6,
        image.uncompressed_size as f64 / 1e6
    );
    let frontend_dist = match (&options.frontend_dir, env.stack(FRONTEND_STACK)) {
        (Some(dir), _) => {
            // Refused here, before anything changes, rather than after the service switched.
            frontend::check_commit(dir, &commit.sha)?;
            Some(dir.clone())
        }
        (None, Some(_)) if !options.plan => Some(frontend::build(&options.root)?),
        _ => None,
    };
    let registry_entry = env
        .stack(REGISTRY_STACK)
        .ok_or(Error::MissingExport("registry stack in stacks.json".into()))?;
    let cs_name = change_set_name(&commit);
    if !current.contains_key(REGISTRY_STACK) && !options.plan {
        // The repository is itself infrastructure: on a first deploy it comes first.
        println!("  first deploy: creating the registry stack so the image has somewhere to go");
        let planned = plan_stack(&aws, &env, registry_entry, (&tag, false), &cs_name, None).await?;
        print_plan(&planned, &env.stack_name(REGISTRY_STACK));
        if let Some(planned) = planned {
            apply(&aws, &env, &planned, options, None).await?;
            outcome.changed_stacks.push(planned.stack.clone());
        }
        if let Some(info) = cfn::describe_stack(&aws, &env.stack_name(REGISTRY_STACK)).await? {
            current.insert(REGISTRY_STACK.into(), info);
        }
    }
    if options.plan {
        println!("  (plan) the image is not pushed");
    } else if let Some(registry) = current.get(REGISTRY_STACK) {
        let uri = registry
            .outputs
            .get("RepositoryUri")
            .ok_or_else(|| Error::MissingExport("RepositoryUri of the registry stack".into()))?;
        outcome.image = Some(push(&aws, uri, &image, &tag).await?);
    }
    steps.done("image", t, tag.clone());

    // 3. stacks
    header(
        3,
        if options.plan {
            "stacks (plan only)"
        } else {
            "stacks"
        },
    );
    let t = Instant::now();
    let mut plans = Vec::new();
    let current_tag = current
        .get(SERVICE_STACK)
        .and_then(|s| s.parameters.get(IMAGE_TAG))
        .cloned();
    // The ECS service keeps its state through the stacks: it starts only after the migrations.
    let service_exists = service_started(current.get(SERVICE_STACK));
    for stack in &env.manifest.stacks {
        let name = env.stack_name(&stack.name);
        let info = current.get(&stack.name);
        match plan_stack(&aws, &env, stack, (&tag, service_exists), &cs_name, info).await {
            Ok(planned) => {
                print_plan(&planned, &name);
                plans.push((stack.clone(), planned, false));
            }
            // A stack that imports what an earlier stack of this deploy will export first.
            Err(Error::Cfn(cfn::Error::ChangeSetFailed { reason, .. }))
                if reason.contains("No export named") =>
            {
                println!("  {name}: planned once the stacks before it exist ({reason})");
                plans.push((stack.clone(), None, true));
            }
            Err(e) => {
                for (_, p, _) in &plans {
                    if let Some(p) = p {
                        cfn::discard(&aws, &p.stack, &p.change_set).await;
                    }
                }
                return Err(e);
            }
        }
    }
    let dangerous: Vec<String> = plans
        .iter()
        .filter_map(|(_, p, _)| p.as_ref())
        .flat_map(|p| {
            p.diff
                .dangerous()
                .into_iter()
                .map(move |c| format!("{} {} ({})", p.stack, c.logical_id, c.resource_type))
        })
        .collect();
    if options.plan || (!dangerous.is_empty() && !options.yes) {
        for p in plans.iter().filter_map(|(_, p, _)| p.as_ref()) {
            cfn::discard(&aws, &p.stack, &p.change_set).await;
            // A create change set leaves an empty stack under review: a plan leaves nothing.
            if p.creates_stack {
                let _ = cfn::delete(&aws, &p.stack).await;
            }
        }
        if !dangerous.is_empty() && !options.yes {
            return Err(Error::Refused(dangerous));
        }
        steps.done(
            "plan",
            t,
            format!(
                "{} stacks would change",
                plans.iter().filter(|(_, p, d)| p.is_some() || *d).count()
            ),
        );
        println!(
            "\nplan only: nothing was changed. Deploy with `cargo xtask deploy --env {}`.",
            env.name
        );
        steps.print(started.elapsed());
        return Ok(outcome);
    }
    for (stack, planned, deferred) in plans {
        let name = env.stack_name(&stack.name);
        let info = cfn::describe_stack(&aws, &name).await?;
        let is_service = stack.name == SERVICE_STACK;
        // The service stack keeps the image that runs now; the switch comes after migrations.
        let planned = match (&planned, is_service, &current_tag, info.as_ref()) {
            (_, true, Some(running), Some(_)) if *running != tag => {
                if let Some(p) = &planned {
                    cfn::discard(&aws, &p.stack, &p.change_set).await;
                }
                let p = plan_stack(
                    &aws,
                    &env,
                    &stack,
                    (running, service_exists),
                    &format!("{cs_name}-infra"),
                    info.as_ref(),
                )
                .await?;
                if p.is_some() {
                    println!(
                        "  {name}: infrastructure changes first, with the running image {running}"
                    );
                }
                p
            }
            (None, _, _, _) if deferred => {
                plan_stack(
                    &aws,
                    &env,
                    &stack,
                    (&tag, service_exists),
                    &cs_name,
                    info.as_ref(),
                )
                .await?
            }
            _ => planned,
        };
        let Some(planned) = planned else { continue };
        println!("  applying {name}…");
        let st = Instant::now();
        apply(&aws, &env, &planned, options, info.as_ref()).await?;
        println!("  {name}: done in {:.1} s", st.elapsed().as_secs_f64());
        outcome.changed_stacks.push(name);
    }
    steps.done(
        "stacks",
        t,
        format!("{} changed", outcome.changed_stacks.len()),
    );

    let exports = Exports::load(&aws, &env).await?;
    let service_info = cfn::describe_stack(&aws, &env.stack_name(SERVICE_STACK)).await?;
    let running_tag = service_info
        .as_ref()
        .and_then(|s| s.parameters.get(IMAGE_TAG))
        .cloned();
    let image_changes = running_tag.as_deref() != Some(tag.as_str()) || current_tag.is_none();
    let starts_service = !service_started(service_info.as_ref());

    // 4. migrations
    header(4, "database migrations");
    let t = Instant::now();
    let placement = exports.placement()?;
    let image_uri = outcome.image.clone().unwrap_or_default();
    if image_changes || starts_service {
        let task = ecs::migrate(
            &aws,
            &placement,
            exports.get("migration-task-definition-arn")?,
            &image_uri,
            options.migration_timeout,
        )
        .await?;
        steps.done("migrations", t, format!("task {task} exited 0"));
    } else {
        steps.done("migrations", t, "skipped: the image did not change");
    }

    // 5. service
    header(5, "service");
    let t = Instant::now();
    if running_tag.as_deref() != Some(tag.as_str()) || starts_service {
        let entry = env
            .stack(SERVICE_STACK)
            .ok_or(Error::MissingExport("service stack".into()))?;
        if starts_service {
            println!("  the schema is current: creating the ECS service with {tag}");
        }
        let planned = plan_stack(
            &aws,
            &env,
            entry,
            (&tag, true),
            &format!("{cs_name}-image"),
            service_info.as_ref(),
        )
        .await?;
        print_plan(&planned, &env.stack_name(SERVICE_STACK));
        if let Some(planned) = planned {
            apply(&aws, &env, &planned, options, service_info.as_ref()).await?;
        }
        steps.done(
            "service",
            t,
            if starts_service {
                format!("started, running {tag}")
            } else {
                format!("running {tag}")
            },
        );
    } else {
        steps.done("service", t, "already running this image");
    }

    // 6. frontend
    header(6, "frontend");
    let t = Instant::now();
    let api_url = exports.get("api-url")?.to_string();
    outcome.api_url = Some(api_url.clone());
    let app_url = exports.get("app-url").ok().map(str::to_owned);
    outcome.app_url = app_url.clone();
    match (
        frontend_dist,
        exports.get("amplify-app-id"),
        exports.get("amplify-branch"),
    ) {
        (Some(dist), Ok(app_id), Ok(branch)) => {
            let target = frontend::Target {
                app_id,
                branch,
                app_url: app_url.as_deref(),
                api_url: &api_url,
                environment: &env.name,
                commit: &commit.sha,
            };
            let note = frontend::publish(&aws, &dist, &target).await?;
            steps.done("frontend", t, note);
        }
        _ => steps.done("frontend", t, "skipped: no frontend stack or bundle"),
    }

    // 7. smoke test
    header(7, "smoke test");
    let t = Instant::now();
    let expect = smoke::Expect {
        api_url: &api_url,
        app_url: app_url.as_deref(),
        git_sha: &commit.sha,
        environment: &env.name,
        within: options.smoke_within,
        domain_within: options.domain_within,
    };
    match smoke::check(&expect).await {
        Ok(lines) => {
            for line in lines {
                println!("  {line}");
            }
            steps.done("smoke test", t, "passed");
        }
        Err(e) => {
            println!("  ✗ {e}");
            if let (true, Some(previous)) = (
                e.concerns_backend() && running_tag.as_deref() != Some(tag.as_str()),
                running_tag.clone(),
            ) {
                println!("  rolling the service back to {previous}");
                crate::rollback::to_tag(&aws, &env, &previous, options).await?;
                return Err(Error::RolledBack {
                    why: e.to_string(),
                    to: previous,
                });
            }
            return Err(e.into());
        }
    }

    // 8. summary
    header(8, "summary");
    println!(
        "  environment  {} (account {}, {})",
        env.name, identity.account, env.file.region
    );
    println!("  api          {api_url}");
    if let Some(app) = &app_url {
        println!("  app          {app}");
    }
    println!("  image        {}", outcome.image.as_deref().unwrap_or("-"));
    println!("  digest       {}", image.manifest.digest);
    steps.print(started.elapsed());
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Hint;

    fn staging() -> Environment {
        let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra");
        Environment::load(&infra, "staging").unwrap()
    }

    fn stack_in(status: &str) -> StackInfo {
        StackInfo {
            name: "faro-staging-data".into(),
            status: status.into(),
            ..StackInfo::default()
        }
    }

    #[test]
    fn a_stack_whose_creation_was_rolled_back_is_refused_with_the_commands_that_recover_it() {
        let env = staging();
        let data = env.stack("data").unwrap();
        let err =
            refuse_failed_creation(&env, data, Some(&stack_in("ROLLBACK_COMPLETE"))).unwrap_err();
        assert!(
            err.to_string()
                .contains("faro-staging-data is ROLLBACK_COMPLETE"),
            "{err}"
        );
        let hint = err.hint().unwrap();
        assert!(
            hint.contains("`cargo xtask destroy --env staging --stack data --include-data`")
                && hint.contains("`cargo xtask deploy --env staging`"),
            "{hint}"
        );
        let service = env.stack(SERVICE_STACK).unwrap();
        let hint = refuse_failed_creation(&env, service, Some(&stack_in("ROLLBACK_COMPLETE")))
            .unwrap_err()
            .hint()
            .unwrap();
        assert!(
            hint.contains("`cargo xtask destroy --env staging --stack service`,"),
            "{hint}"
        );
        for fine in ["CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"] {
            assert!(refuse_failed_creation(&env, data, Some(&stack_in(fine))).is_ok());
        }
        assert!(refuse_failed_creation(&env, data, None).is_ok());
    }

    #[test]
    fn the_service_stack_starts_its_service_only_once_told_to() {
        let env = staging();
        let service = env.stack(SERVICE_STACK).unwrap();
        assert_eq!(
            stack_parameters(&env, service, "abc", false).get(START_SERVICE),
            Some(&"false".to_string())
        );
        assert!(!service_started(None));
        let mut info = stack_in("CREATE_COMPLETE");
        info.parameters.insert(START_SERVICE.into(), "false".into());
        assert!(!service_started(Some(&info)));
        info.parameters.insert(START_SERVICE.into(), "true".into());
        assert!(service_started(Some(&info)));
        // Stacks deployed before StartService existed have their service.
        info.parameters.remove(START_SERVICE);
        assert!(service_started(Some(&info)));
    }
}
