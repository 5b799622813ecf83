//! The DeepSeek and SleakOps simulators (`faro-sim`) for `cargo xtask dev`, started when the
//! developer has no real API keys, so the whole product works on a laptop without accounts.

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

/// What the simulators print for the backend before `READY`.
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
            Self::Build(_) => format!("fix the errors above; `cargo build -p {PACKAGE}` shows them again"),
            Self::Exited(_) | Self::NotReady | Self::Garbled(_) => {
                "run `cargo run -p faro-sim` alone to see its log, or set FARO_DEEPSEEK_API_KEY and \
                 FARO_SLEAKOPS_API_KEY to use the real services"
                    .into()
            }
            Self::Proc(e) => return e.hint(),
        })
    }
}

/// Which services need a simulator: those without an API key in xtask's own environment.
pub fn wanted() -> Vec<&'static str> {
    [
        ("DeepSeek", "FARO_DEEPSEEK_API_KEY"),
        ("SleakOps", "FARO_SLEAKOPS_API_KEY"),
    ]
    .into_iter()
    .filter(|(_, key)| std::env::var(key).map_or(true, |v| v.trim().is_empty()))
    .map(|(service, _)| service)
    .collect()
}

/// The running simulators and the variables that point the backend at them.
#[derive(Debug)]
pub struct Simulators {
    pub child: proc::Child,
    /// For each service that has no real key: its base URL and key.
    pub env: Vec<(&'static str, String)>,
}

/// How the simulators are built and paced.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub release: bool,
    /// Time a build or deployment spends in each state.
    pub step: Duration,
    /// Pause between streamed tokens.
    pub token_delay: Duration,
}

impl Settings {
    /// Builds and deployments visibly move through their states; answers stream at reading pace.
    pub const DEV: Self = Self {
        release: false,
        step: Duration::from_millis(1500),
        token_delay: Duration::from_millis(25),
    };
}

/// Builds and starts `faro-sim` on free ports and waits for its `READY`; only the variables of
/// the `services` named (as returned by [`wanted`]) are kept, so a real key is never shadowed.
pub fn start(ws: &Workspace, services: &[&str], settings: Settings) -> Result<Simulators, Error> {
    let binary = build(ws, settings.release)?;
    let mut cmd = std::process::Command::new(&binary);
    cmd.arg("--step-ms")
        .arg(settings.step.as_millis().to_string())
        .arg("--token-delay-ms")
        .arg(settings.token_delay.as_millis().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
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
    Ok(Simulators {
        child,
        env: select(printed, services),
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

/// Keeps the variables of the simulated services only.
fn select(printed: Vec<(String, String)>, services: &[&str]) -> Vec<(&'static str, String)> {
    VARIABLES
        .iter()
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

    #[test]
    fn only_simulated_services_are_configured() {
        let printed: Vec<(String, String)> = VARIABLES
            .iter()
            .map(|name| (name.to_string(), format!("value of {name}")))
            .collect();
        let deepseek_only = select(printed.clone(), &["DeepSeek"]);
        let names: Vec<&str> = deepseek_only.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["FARO_DEEPSEEK_BASE_URL", "FARO_DEEPSEEK_API_KEY"]);
        assert_eq!(select(printed.clone(), &["DeepSeek", "SleakOps"]).len(), 4);
        assert!(select(printed, &[]).is_empty());
    }
}
