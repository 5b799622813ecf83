//! `faro-deploy`: the release commands that `cargo xtask image|deploy|status|logs|rollback|destroy`
//! forward to (see `cargo xtask --help` for the flags).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use faro_deploy::ecs::Limits;
use faro_deploy::image::build::Target;
use faro_deploy::infra::Environment;
use faro_deploy::{Error, Hint, deploy, destroy, git, image, logs, registry, rollback, status};

const USAGE: &str = "usage: faro-deploy <image build|image push|deploy|status|logs|rollback|destroy> [flags]; see `cargo xtask --help`";

/// The parsed command line: the command words, then `--flag [value]` pairs.
#[derive(Debug, Default)]
struct Args {
    words: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

/// Flags that take no value.
const SWITCHES: &[&str] = &[
    "--plan",
    "--yes",
    "--allow-dirty",
    "--follow",
    "--include-data",
];

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let value = if SWITCHES.contains(&name.as_str()) {
                None
            } else {
                Some(match inline {
                    Some(v) => v,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or(format!("`{name}` needs a value"))?,
                })
            };
            out.flags.push((name, value));
        } else {
            out.words.push(arg.clone());
        }
    }
    Ok(out)
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    fn secs(&self, name: &str, default: u64) -> Result<Duration, String> {
        match self.get(name) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v
                .parse()
                .map(Duration::from_secs)
                .map_err(|_| format!("`{name}` takes whole seconds, got `{v}`")),
        }
    }

    fn check(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((flag, _)) => Err(format!(
                "unknown flag `{flag}` for `{}`",
                self.words.join(" ")
            )),
            None => Ok(()),
        }
    }

    fn env(&self) -> Result<&str, String> {
        self.get("--env")
            .ok_or_else(|| "`--env NAME` is required".to_string())
    }
}

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

fn deploy_options(args: &Args, root: &Path) -> Result<deploy::Options, String> {
    Ok(deploy::Options {
        env: args.env()?.to_string(),
        plan: args.has("--plan"),
        yes: args.has("--yes"),
        allow_dirty: args.has("--allow-dirty"),
        root: root.to_path_buf(),
        infra_dir: args
            .get("--infra-dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("infra")),
        target_dir: target_dir(root),
        image_dir: args.get("--image-dir").map(PathBuf::from),
        frontend_dir: args.get("--frontend-dir").map(PathBuf::from),
        limits: Limits {
            timeout: args.secs("--rollout-timeout", 900)?,
            max_failed_tasks: match args.get("--max-failed-tasks") {
                None => 3,
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("`--max-failed-tasks` takes a number, got `{v}`"))?,
            },
        },
        stack_timeout: args.secs("--stack-timeout", 3600)?,
        migration_timeout: args.secs("--migration-timeout", 900)?,
        smoke_within: args.secs("--smoke-timeout", 60)?,
    })
}

const DEPLOY_FLAGS: &[&str] = &[
    "--env",
    "--plan",
    "--yes",
    "--allow-dirty",
    "--infra-dir",
    "--image-dir",
    "--frontend-dir",
    "--rollout-timeout",
    "--max-failed-tasks",
    "--stack-timeout",
    "--migration-timeout",
    "--smoke-timeout",
];

async fn run(args: Args) -> Result<(), Error> {
    let root = root();
    let usage = |m: String| Error::Other(format!("{m}\n{USAGE}"));
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["image", "build"] => {
            args.check(&["--target", "--output", "--binary"])
                .map_err(usage)?;
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
        ["image", "push"] => {
            args.check(&["--registry", "--image-dir", "--tag", "--region"])
                .map_err(usage)?;
            let registry_arg = args
                .get("--registry")
                .ok_or_else(|| usage("`--registry HOST/REPOSITORY` is required".into()))?;
            let reference = registry::Reference::parse(registry_arg)?;
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
        ["deploy"] => {
            args.check(DEPLOY_FLAGS).map_err(usage)?;
            let options = deploy_options(&args, &root).map_err(usage)?;
            deploy::run(&options).await.map(|_| ())
        }
        ["rollback"] => {
            let mut allowed = DEPLOY_FLAGS.to_vec();
            allowed.push("--to");
            args.check(&allowed).map_err(usage)?;
            let options = deploy_options(&args, &root).map_err(usage)?;
            rollback::run(&options, args.get("--to")).await.map(|_| ())
        }
        ["status"] => {
            args.check(&["--env", "--infra-dir"]).map_err(usage)?;
            let env = load_env(&args, &root)?;
            status::run(&env).await
        }
        ["logs"] => {
            args.check(&["--env", "--infra-dir", "--follow", "--since", "--filter"])
                .map_err(usage)?;
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
        ["destroy"] => {
            args.check(&[
                "--env",
                "--infra-dir",
                "--include-data",
                "--confirm",
                "--stack-timeout",
            ])
            .map_err(usage)?;
            let env = load_env(&args, &root)?;
            let options = destroy::Options {
                include_data: args.has("--include-data"),
                confirm: args.get("--confirm").map(str::to_owned),
                stack_timeout: args.secs("--stack-timeout", 3600).map_err(usage)?,
            };
            destroy::run(&env, &options).await.map(|_| ())
        }
        _ => Err(usage(format!("unknown command `{}`", args.words.join(" ")))),
    }
}

fn load_env(args: &Args, root: &Path) -> Result<Environment, Error> {
    let env = args.env().map_err(Error::Other)?;
    let dir = args
        .get("--infra-dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("infra"));
    Ok(Environment::load(&dir, env)?)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&raw) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
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
