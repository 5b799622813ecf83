//! Building, migrating, starting and waiting for `faro-backend`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace::Workspace;
use crate::{Hint, http, proc};

pub const PACKAGE: &str = "faro-backend";
pub const BINARY: &str = "faro-backend";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{command}` failed ({status})")]
    Build { command: String, status: String },
    #[error("cargo built no {0}")]
    NoBinary(String),
    #[error("`faro-backend migrate` failed ({0})")]
    Migrate(String),
    #[error("the backend exited during start-up ({0})")]
    Exited(String),
    #[error("the backend was not ready within {} s (last /readyz: {last})", timeout.as_secs())]
    NotReady { timeout: Duration, last: String },
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Build { command, .. } => {
                format!("fix the errors above; `{command}` shows them again")
            }
            Self::NoBinary(path) => format!(
                "check that package {PACKAGE} has a bin target named {BINARY} (looked for {path})"
            ),
            Self::Migrate(_) => {
                "see its output above; the database URL it used is printed there too".into()
            }
            Self::Exited(_) => {
                "see its log above; its configuration errors name the variable at fault".into()
            }
            Self::NotReady { .. } => {
                "/readyz needs MySQL and DynamoDB; see the backend's log above".into()
            }
            Self::Proc(e) => return e.hint(),
        })
    }
}

/// `cargo build -p faro-backend [--release]` with cargo's output streamed; returns the binary.
pub fn build(ws: &Workspace, release: bool) -> Result<PathBuf, Error> {
    let mut cmd = ws.cargo();
    cmd.args(["build", "-p", PACKAGE]);
    if release {
        cmd.arg("--release");
    }
    let command = format!(
        "cargo build -p {PACKAGE}{}",
        if release { " --release" } else { "" }
    );
    eprintln!("xtask: {command}");
    match proc::run(&command, &mut cmd) {
        Ok(()) => {}
        Err(proc::Error::Failed { status, .. }) => return Err(Error::Build { command, status }),
        Err(e) => return Err(e.into()),
    }
    let binary = ws.binary(BINARY, release);
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(Error::NoBinary(binary.display().to_string()))
    }
}

/// Environment variables for the backend, in the order they were set.
pub type Env = Vec<(&'static str, String)>;

fn command(binary: &Path, env: &Env) -> Command {
    let mut cmd = Command::new(binary);
    // A SleakOps key in xtask's environment seeds an organization; the backend has none.
    cmd.env_remove(crate::sim::SLEAKOPS_KEY);
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}

/// `faro-backend migrate`: creates the database named in DATABASE_URL and applies migrations.
pub fn migrate(binary: &Path, env: &Env) -> Result<(), Error> {
    let database = env
        .iter()
        .find(|(k, _)| *k == "DATABASE_URL")
        .and_then(|(_, url)| crate::stack::mysql::MysqlUrl::parse(url).ok())
        .map(|url| url.redacted())
        .unwrap_or_default();
    eprintln!("xtask: faro-backend migrate ({database})");
    match proc::run("faro-backend migrate", command(binary, env).arg("migrate")) {
        Ok(()) => Ok(()),
        Err(proc::Error::Failed { status, .. }) => Err(Error::Migrate(status)),
        Err(e) => Err(e.into()),
    }
}

/// Starts the server; its output goes to the terminal. The grace period covers
/// FARO_SHUTDOWN_DRAIN_SECS plus a little.
pub fn spawn(binary: &Path, env: &Env) -> Result<proc::Child, Error> {
    let drain: u64 = env
        .iter()
        .find(|(k, _)| *k == "FARO_SHUTDOWN_DRAIN_SECS")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(10);
    let mut cmd = command(binary, env);
    cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    Ok(proc::spawn(
        "faro-backend",
        &mut cmd,
        Duration::from_secs(drain + 10),
    )?)
}

/// Polls `GET /readyz` every `interval` (a fresh connection each time) until it answers 200;
/// returns the time from `since` to that answer.
pub fn wait_ready(
    child: &mut proc::Child,
    addr: SocketAddr,
    since: Instant,
    timeout: Duration,
    interval: Duration,
) -> Result<Duration, Error> {
    loop {
        if let Some(status) = child.try_status()? {
            return Err(Error::Exited(proc::describe(status)));
        }
        let last = match http::get(addr, "/readyz", Duration::from_secs(2)) {
            Ok(200) => return Ok(since.elapsed()),
            Ok(status) => format!("HTTP {status}"),
            Err(e) => e.to_string(),
        };
        if since.elapsed() > timeout {
            return Err(Error::NotReady { timeout, last });
        }
        proc::sleep(interval)?;
    }
}
