//! The DeepSeek and SleakOps simulators (`faro-sim`) for `cargo xtask dev`, started when the
//! developer has no real API keys, so the whole product works on a laptop without accounts.
//!
//! The backend has no SleakOps key of its own (each organization brings one): the SleakOps key
//! the simulator prints is handed back in [`Simulators::sleakops_key`], for seeding an
//! organization, and never reaches the backend's environment.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::workspace::Workspace;
use crate::{Hint, proc};

const PACKAGE: &str = "faro-sim";
/// A fresh debug binary listens within milliseconds; the slack is for a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SleakOps key the simulator's first account has (or the real key, in xtask's environment).
pub const SLEAKOPS_KEY: &str = "FARO_SLEAKOPS_API_KEY";

/// What the simulators print before `READY`: the backend's variables, and [`SLEAKOPS_KEY`].
const VARIABLES: [&str; 4] = [
    "FARO_DEEPSEEK_BASE_URL",
    "FARO_DEEPSEEK_API_KEY",
    "FARO_SLEAKOPS_BASE_URL",
    "FARO_SLEAKOPS_API_KEY",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`cargo build -p {PACKAGE}` failed ({0})")]
    Build(String),
    #[error("faro-sim exited before it was ready ({0})")]
    Exited(String),
    #[error("faro-sim did not print READY within {} s", READY_TIMEOUT.as_secs())]
    NotReady,
    #[error("faro-sim printed `{0}`, which is not NAME=value")]
    Garbled(String),
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Build(_) => {
                format!("fix the errors above; `cargo build -p {PACKAGE}` shows them again")
            }
            Self::Exited(_) | Self::NotReady | Self::Garbled(_) => {
                "run `cargo run -p faro-sim` alone to see its log, or set FARO_DEEPSEEK_API_KEY \
                 (the real DeepSeek) and FARO_SLEAKOPS_API_KEY (a real SleakOps key for the demo \
                 organization) to use the real services"
                    .into()
            }
            Self::Proc(e) => return e.hint(),
        })
    }
}

/// Which services need a simulator: those without an API key in xtask's own environment.
/// A real SleakOps key only seeds the demo organization ([`real_sleakops_key`]); the backend
/// then talks to the real SleakOps.
pub fn wanted() -> Vec<&'static str> {
    [
        ("DeepSeek", "FARO_DEEPSEEK_API_KEY"),
        ("SleakOps", SLEAKOPS_KEY),
    ]
    .into_iter()
    .filter(|(_, key)| set(key).is_none())
    .map(|(service, _)| service)
    .collect()
}

/// The real SleakOps key in xtask's own environment, if any.
pub fn real_sleakops_key() -> Option<String> {
    set(SLEAKOPS_KEY)
}

fn set(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The running simulators and the variables that point the backend at them.
#[derive(Debug)]
pub struct Simulators {
    pub child: proc::Child,
    /// For each service that has no real key: the variables of the backend (its base URL, and
    /// for DeepSeek its key).
    pub env: Vec<(&'static str, String)>,
    /// The key of the SleakOps simulator's first account, when SleakOps is simulated: an
    /// organization given it can release.
    pub sleakops_key: Option<String>,
}

impl Simulators {
    /// The SleakOps simulator's address, where its `/_sim/` admin routes are, when SleakOps is
    /// simulated.
    pub fn sleakops_url(&self) -> Option<&str> {
        self.env
            .iter()
            .find(|(name, _)| *name == "FARO_SLEAKOPS_BASE_URL")
            .map(|(_, url)| origin(url))
    }
}

/// `http://host:port` of a base URL such as `http://host:port/api/`.
fn origin(url: &str) -> &str {
    let host = url.find("://").map_or(0, |at| at + 3);
    url[host..].find('/').map_or(url, |at| &url[..host + at])
}

/// How the simulators are built and paced.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub release: bool,
    /// Time a build or deployment spends in each state.
    pub step: Duration,
    /// Pause between streamed tokens.
    pub token_delay: Duration,
    /// What the SleakOps simulator's first account reaches (`--sleakops-projects`, as
    /// `project=env,env;project`); `None`: any project, and it lists nothing.
    pub sleakops_projects: Option<&'static str>,
}

impl Settings {
    /// Builds and deployments visibly move through their states; answers stream at reading pace.
    pub const DEV: Self = Self {
        release: false,
        step: Duration::from_millis(1500),
        token_delay: Duration::from_millis(25),
        sleakops_projects: Some(DEMO_PROJECTS),
    };

    /// Every call answered at once (the figures are Faro's own); the key reaches what the bench
    /// seed's fixtures create: project `shop`, environment `staging-env`. (A project the key
    /// does not list cannot be created: the backend checks.)
    pub const BENCH: Self = Self {
        release: true,
        step: Duration::ZERO,
        token_delay: Duration::ZERO,
        sleakops_projects: Some("shop=staging-env"),
    };
}

/// What the demo organization of `cargo xtask dev` reaches on the simulated SleakOps.
pub const DEMO_PROJECTS: &str = "demo=staging,production";

/// Builds and starts `faro-sim` on free ports and waits for its `READY`; only the variables of
/// the `services` named (as returned by [`wanted`]) are kept, so a real key is never shadowed.
pub fn start(ws: &Workspace, services: &[&str], settings: Settings) -> Result<Simulators, Error> {
    let binary = build(ws, settings.release)?;
    let mut cmd = std::process::Command::new(&binary);
    cmd.arg("--step-ms")
        .arg(settings.step.as_millis().to_string())
        .arg("--token-delay-ms")
        .arg(settings.token_delay.as_millis().to_string());
    if let Some(projects) = settings.sleakops_projects {
        cmd.arg("--sleakops-projects").arg(projects);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = proc::spawn(PACKAGE, &mut cmd, Duration::from_secs(5))?;
    let stdout = child
        .take_stdout()
        .expect("faro-sim's stdout was requested piped");
    let lines = forward_lines(stdout);
    let until = Instant::now() + READY_TIMEOUT;
    let mut printed = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.trim() == "READY" => break,
            Ok(line) => printed.push(parse_line(&line)?),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_status()? {
                    return Err(Error::Exited(proc::describe(status)));
                }
                if proc::shutdown_requested() {
                    return Err(proc::Error::Interrupted.into());
                }
                if Instant::now() >= until {
                    return Err(Error::NotReady);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait()?;
                return Err(Error::Exited(proc::describe(status)));
            }
        }
    }
    let sleakops_key = seed_key(&printed, services);
    Ok(Simulators {
        child,
        env: select(printed, services),
        sleakops_key,
    })
}

fn build(ws: &Workspace, release: bool) -> Result<PathBuf, Error> {
    let mut cmd = ws.cargo();
    cmd.args(["build", "-p", PACKAGE]);
    if release {
        cmd.arg("--release");
    }
    eprintln!(
        "xtask: cargo build -p {PACKAGE}{}",
        if release { " --release" } else { "" }
    );
    match proc::run("cargo build -p faro-sim", &mut cmd) {
        Ok(()) => Ok(ws.binary(PACKAGE, release)),
        Err(proc::Error::Failed { status, .. }) => Err(Error::Build(status)),
        Err(e) => Err(e.into()),
    }
}

/// Sends each stdout line on a channel; after `READY` the lines (there are none by design) go
/// to xtask's stderr so nothing the simulator says is lost and its pipe never fills.
fn forward_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if ready {
                eprintln!("faro-sim: {line}");
                continue;
            }
            ready = line.trim() == "READY";
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn parse_line(line: &str) -> Result<(String, String), Error> {
    match line.split_once('=') {
        Some((name, value)) if VARIABLES.contains(&name.trim()) => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(Error::Garbled(line.to_string())),
    }
}

/// The SleakOps key printed, when SleakOps is simulated (else the real one seeds).
fn seed_key(printed: &[(String, String)], services: &[&str]) -> Option<String> {
    if !services.contains(&"SleakOps") {
        return None;
    }
    printed
        .iter()
        .find(|(name, _)| name == SLEAKOPS_KEY)
        .map(|(_, key)| key.clone())
}

/// Keeps the backend's variables of the simulated services only.
fn select(printed: Vec<(String, String)>, services: &[&str]) -> Vec<(&'static str, String)> {
    VARIABLES
        .iter()
        .filter(|name| **name != SLEAKOPS_KEY)
        .filter(|name| {
            services
                .iter()
                .any(|service| name.contains(&service.to_ascii_uppercase()))
        })
        .filter_map(|name| {
            printed
                .iter()
                .find(|(printed_name, _)| printed_name == name)
                .map(|(_, value)| (*name, value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_must_be_known_variables() {
        assert_eq!(
            parse_line("FARO_DEEPSEEK_API_KEY=sim-deepseek-key").unwrap(),
            ("FARO_DEEPSEEK_API_KEY".into(), "sim-deepseek-key".into())
        );
        assert!(matches!(parse_line("hello"), Err(Error::Garbled(_))));
        assert!(matches!(parse_line("PATH=/bin"), Err(Error::Garbled(_))));
    }

    fn every_variable() -> Vec<(String, String)> {
        VARIABLES
            .iter()
            .map(|name| (name.to_string(), format!("value of {name}")))
            .collect()
    }

    #[test]
    fn only_simulated_services_are_configured() {
        let printed = every_variable();
        let deepseek_only = select(printed.clone(), &["DeepSeek"]);
        let names: Vec<&str> = deepseek_only.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["FARO_DEEPSEEK_BASE_URL", "FARO_DEEPSEEK_API_KEY"]);
        assert!(select(printed, &[]).is_empty());
    }

    #[test]
    fn the_backend_never_gets_a_sleakops_key() {
        let printed = every_variable();
        let names: Vec<&str> = select(printed, &["DeepSeek", "SleakOps"])
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(
            names,
            [
                "FARO_DEEPSEEK_BASE_URL",
                "FARO_DEEPSEEK_API_KEY",
                "FARO_SLEAKOPS_BASE_URL"
            ]
        );
    }

    #[test]
    fn the_admin_routes_are_at_the_simulators_origin() {
        assert_eq!(
            origin("http://127.0.0.1:4010/api/"),
            "http://127.0.0.1:4010"
        );
        assert_eq!(origin("http://127.0.0.1:4010"), "http://127.0.0.1:4010");
    }

    #[test]
    fn the_simulated_sleakops_key_is_kept_for_seeding() {
        let printed = vec![
            (
                "FARO_SLEAKOPS_BASE_URL".to_string(),
                "http://sim".to_string(),
            ),
            (SLEAKOPS_KEY.to_string(), "sim-sleakops-key".to_string()),
        ];
        assert_eq!(
            seed_key(&printed, &["DeepSeek", "SleakOps"]).as_deref(),
            Some("sim-sleakops-key")
        );
        assert_eq!(seed_key(&printed, &["DeepSeek"]), None);
    }
}
