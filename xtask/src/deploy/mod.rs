//! `cargo xtask image|deploy|status|logs|rollback|destroy`: forwarded, arguments unchanged, to
//! the `faro-deploy` binary (tools/deploy), which parses them (`--help` included) and holds the
//! AWS SDK code. Keeping the SDK out of xtask keeps `cargo xtask dev` and `test` quick to
//! compile; the release commands compile it on first use.
//!
//! Also what `cargo xtask test` prepares for the deploy tests: moto's server (pinned, in a
//! cached venv), Debian's `docker-registry`, and an image of the test build's backend.
//!
//! The commands that build an image get the RDS CA bundle from npm first ([`rds_ca`]):
//! `faro-deploy` has no npm client of its own.

mod rds_ca;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::workspace::Workspace;
use crate::{Hint, infra, prereq, proc};

/// The commands that are `faro-deploy`'s.
pub const COMMANDS: &[&str] = &["image", "deploy", "status", "logs", "rollback", "destroy"];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not run `cargo run -p faro-deploy`: {0}")]
    Spawn(std::io::Error),
    #[error("`docker-registry` is not installed and apt-get could not install it")]
    RegistryMissing,
    #[error("making the deploy tests' image failed")]
    Image,
    #[error("{} is missing: the test build did not make it", .0.display())]
    NotBuilt(PathBuf),
    #[error(transparent)]
    Tools(#[from] infra::tools::Error),
    #[error(transparent)]
    RdsCa(#[from] rds_ca::Error),
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Spawn(_) => Some("cargo must be on PATH".into()),
            Self::RegistryMissing => Some(
                "install Debian's OCI registry as root: `apt-get update && apt-get install -y docker-registry`".into(),
            ),
            Self::Image => Some("faro-deploy's output above says why".into()),
            Self::NotBuilt(_) => Some(
                "build the workspace's test targets: `cargo test --workspace --all-targets --no-run`".into(),
            ),
            Self::Tools(e) => e.hint(),
            Self::RdsCa(e) => e.hint(),
            Self::Proc(e) => e.hint(),
        }
    }
}

/// Runs `faro-deploy ARGS` (the command and its flags, as given to xtask) with the terminal
/// attached (destroy reads the typed confirmation) and returns its exit code.
pub fn run(ws: &Workspace, args: &[String]) -> Result<ExitCode, Error> {
    let mut cmd = ws.cargo();
    cmd.args(["run", "--quiet", "-p", "faro-deploy", "--"])
        .args(args);
    if matches!(args.first().map(String::as_str), Some("image" | "deploy")) {
        cmd.env(rds_ca::VAR, rds_ca::bundle(ws)?);
    }
    let status = cmd.status().map_err(Error::Spawn)?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(130),
    })
}

/// The OCI registry binary, installed through apt when missing and xtask runs as root.
pub fn registry_binary() -> Result<PathBuf, Error> {
    if let Some(path) = prereq::find_program("docker-registry", &[]) {
        return Ok(path);
    }
    let root = std::env::var("USER").is_ok_and(|u| u == "root")
        || std::env::var_os("HOME").is_some_and(|h| h == "/root");
    if root && prereq::find_program("apt-get", &[]).is_some() {
        eprintln!(
            "xtask: installing docker-registry with apt-get (the deploy tests push images to it)…"
        );
        let mut install = Command::new("sh");
        install.args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry",
        ]);
        let _ = proc::status("apt-get install docker-registry", &mut install)?;
    }
    prereq::find_program("docker-registry", &[]).ok_or(Error::RegistryMissing)
}

/// What the deploy tests need, as environment variables for the test runner: moto's Python,
/// the registry binary, and an image made once from the debug `faro-backend` of the test build
/// (the deploy tests only run it on this machine, inside the Fargate stand-in, so the static
/// musl release build that ships is not needed here; `cargo xtask image build` and
/// `cargo xtask bench --scenario image` cover that one). Expects `cargo test --no-run` to have
/// built both binaries.
pub fn prepare_tests(ws: &Workspace) -> Result<Vec<(&'static str, String)>, Error> {
    let moto = infra::python_tool(ws, &infra::MOTO)?;
    let registry = registry_binary()?;
    let image_dir = ws.target.join("faro-image").join("test");
    let deploy = ws.binary("faro-deploy", false);
    let backend = ws.binary("faro-backend", false);
    for binary in [&deploy, &backend] {
        if !binary.is_file() {
            return Err(Error::NotBuilt(binary.clone()));
        }
    }
    let rds_ca_bundle = rds_ca::bundle(ws)?;
    let mut cmd = Command::new(&deploy);
    cmd.current_dir(&ws.root)
        .args(["image", "build", "--binary"])
        .arg(&backend)
        .arg("--output")
        .arg(&image_dir)
        .env(rds_ca::VAR, &rds_ca_bundle);
    eprintln!(
        "\nxtask: the deploy tests' image, from {}",
        ws.display(&backend)
    );
    if !proc::status("faro-deploy image build", &mut cmd)?.success() {
        return Err(Error::Image);
    }
    Ok(vec![
        // The tests build images of their own too (a smoke test's image of another commit).
        (rds_ca::VAR, rds_ca_bundle.display().to_string()),
        ("FARO_TEST_MOTO_PYTHON", moto.display().to_string()),
        ("FARO_TEST_REGISTRY_BIN", registry.display().to_string()),
        ("FARO_TEST_IMAGE_DIR", image_dir.display().to_string()),
    ])
}
