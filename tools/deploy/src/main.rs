//! `faro-deploy`: the release commands that `cargo xtask image|deploy|status|logs|rollback|destroy`
//! forward to; `faro-deploy <command> --help` (or `cargo xtask <command> --help`) lists the flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use faro_deploy::cli::{self, Command, Invocation, Parsed};
use faro_deploy::ecs::Limits;
use faro_deploy::image::build::Target;
use faro_deploy::{
    Error, Hint, deploy, destroy, git, image, logs, registry, rollback, smoke, status,
};
use faro_infra_model::Environment;

fn root() -> PathBuf {
    std::env::var_os("FARO_WORKSPACE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .canonicalize()
                .unwrap_or_default()
        })
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

fn infra_dir(args: &Invocation, root: &Path) -> PathBuf {
    args.get("--infra-dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("infra"))
}

fn deploy_options(args: &Invocation, root: &Path) -> deploy::Options {
    deploy::Options {
        env: args.required("--env").to_string(),
        plan: args.has("--plan"),
        yes: args.has("--yes"),
        allow_dirty: args.has("--allow-dirty"),
        root: root.to_path_buf(),
        infra_dir: infra_dir(args, root),
        target_dir: target_dir(root),
        image_dir: args.get("--image-dir").map(PathBuf::from),
        frontend_dir: args.get("--frontend-dir").map(PathBuf::from),
        limits: Limits {
            timeout: args.secs("--rollout-timeout", 900),
            max_failed_tasks: args
                .number("--max-failed-tasks", 3)
                .try_into()
                .unwrap_or(u32::MAX),
        },
        stack_timeout: args.secs("--stack-timeout", 3600),
        migration_timeout: args.secs("--migration-timeout", 900),
        smoke_within: args.secs("--smoke-timeout", 60),
        domain_within: args.secs("--domain-timeout", smoke::DOMAIN_WITHIN.as_secs()),
    }
}

async fn run(args: Invocation) -> Result<(), Error> {
    let root = root();
    match args.spec.command {
        Command::ImageBuild => {
            let target =
                Target::parse(args.get("--target").unwrap_or("x86_64-unknown-linux-musl"))?;
            let commit = git::Commit::head(&root)?;
            let targets = target_dir(&root);
            let out = args
                .get("--output")
                .map(PathBuf::from)
                .unwrap_or_else(|| image::default_dir(&targets, &target));
            let built = image::build_into(
                &root,
                &targets,
                &target,
                &commit,
                args.get("--binary").map(Path::new),
                &out,
            )?;
            println!("{}", image::describe(&built));
            println!(
                "tag           {}",
                git::image_tag(&commit, &built.manifest.digest)
            );
            Ok(())
        }
        Command::ImagePush => {
            let reference = registry::Reference::parse(args.required("--registry"))?;
            let dir = args
                .get("--image-dir")
                .map(PathBuf::from)
                .unwrap_or_else(|| image::default_dir(&target_dir(&root), &Target::default()));
            let built = image::layout::open(&dir)?;
            let commit = git::Commit::head(&root)?;
            let tag = args
                .get("--tag")
                .map(str::to_owned)
                .or_else(|| reference.tag.clone())
                .unwrap_or_else(|| git::image_tag(&commit, &built.manifest.digest));
            // ECR hosts authenticate with a token from GetAuthorizationToken.
            let credentials = if reference.base.contains(".dkr.ecr.") {
                let region = args.get("--region").map(str::to_owned).or_else(|| {
                    reference
                        .base
                        .split(".dkr.ecr.")
                        .nth(1)
                        .and_then(|r| r.split('.').next())
                        .map(str::to_owned)
                });
                let aws =
                    faro_deploy::aws::Aws::connect(region.as_deref().unwrap_or("us-east-1")).await;
                registry::ecr::credentials(&aws).await?
            } else {
                registry::Credentials::from_env()
            };
            let mut client = registry::Client::new(reference, credentials);
            let pushed = client.push(&built, &tag).await?;
            println!(
                "pushed {} ({})\n  {} blobs uploaded, {} already in the registry, {:.1} s",
                pushed.reference,
                pushed.digest,
                pushed.uploaded.len(),
                pushed.skipped.len(),
                pushed.took.as_secs_f64()
            );
            Ok(())
        }
        Command::Deploy => deploy::run(&deploy_options(&args, &root)).await.map(|_| ()),
        Command::Rollback => rollback::run(&deploy_options(&args, &root), args.get("--to"))
            .await
            .map(|_| ()),
        Command::Status => status::run(&load_env(&args, &root)?).await,
        Command::Logs => {
            let env = load_env(&args, &root)?;
            let query = logs::Query {
                since: args.get("--since").map(logs::parse_since).transpose()?,
                filter: args.get("--filter").map(str::to_owned),
                follow: args.has("--follow"),
            };
            let aws = faro_deploy::aws::Aws::connect(&env.file.region).await;
            let group = format!("/faro/{}/backend", env.name);
            let printed = logs::print(&aws, &group, &query, std::io::stdout()).await?;
            if printed == 0 {
                eprintln!("no log events in {group} for that window (try --since 1h)");
            }
            Ok(())
        }
        Command::Destroy => {
            let env = load_env(&args, &root)?;
            let options = destroy::Options {
                include_data: args.has("--include-data"),
                only: args.get("--stack").map(str::to_owned),
                confirm: args.get("--confirm").map(str::to_owned),
                stack_timeout: args.secs("--stack-timeout", 3600),
            };
            destroy::run(&env, &options).await.map(|_| ())
        }
    }
}

fn load_env(args: &Invocation, root: &Path) -> Result<Environment, Error> {
    Ok(Environment::load(
        &infra_dir(args, root),
        args.required("--env"),
    )?)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match cli::parse(&raw) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("  hint: {hint}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            result = run(args) => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Other("interrupted: stacks already being updated go on in CloudFormation; `cargo xtask status --env …` shows them".into())),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("  hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
