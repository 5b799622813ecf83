//! `cargo xtask test`: lint and every test of the workspace against the real local stack.
//!
//! Steps run in order and all of them run even when one fails (the tests are skipped only when
//! the stack could not start). Doc tests run before the main test runner so that the run's last
//! lines are the runner's summary.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::stack::{LocalStack, Mode, mysql};
use crate::workspace::Workspace;
use crate::{Hint, proc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Run `cargo fmt --check` and `cargo clippy` (off with `--no-lint`).
    pub lint: bool,
    /// Run cfn-lint and the cfn-guard rules on `infra/` (off with `--no-infra`).
    pub infra: bool,
    /// Arguments after `--`, for the test runner.
    pub runner_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lint: true,
            infra: true,
            runner_args: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed {
        why: String,
        hint: Option<String>,
    },
    Skipped(String),
    /// Stopped by Ctrl-C while it ran.
    Interrupted,
}

#[derive(Debug)]
struct Step {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
    note: Option<String>,
}

/// A short id unique enough for concurrent runs on one server: pid and unix time, in hex.
pub fn run_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("{:x}{:05x}", std::process::id(), secs & 0xfffff)
}

/// Every failure becomes a failed step in the summary, so this has no error of its own.
pub fn run(options: &Options) -> ExitCode {
    let ws = Workspace::locate();
    let run_id = run_id();
    let prefix = format!("faro_t{run_id}_");
    eprintln!("xtask: test run {run_id} (databases {prefix}*)");
    let mut steps = Vec::new();

    let started = Instant::now();
    let stack = match LocalStack::start(Mode::Test, &ws) {
        Ok(stack) => {
            steps.push(Step::passed("stack", started));
            Some(stack)
        }
        Err(_) if proc::shutdown_requested() => None,
        Err(e) => {
            eprintln!("error: {e}");
            steps.push(Step::failed("stack", started, e.to_string(), e.hint()));
            None
        }
    };
    let env: Vec<(&str, String)> = match &stack {
        Some(stack) => vec![
            ("FARO_TEST_MYSQL_URL", stack.mysql.to_url()),
            ("FARO_TEST_DB_PREFIX", prefix.clone()),
            ("FARO_TEST_DYNAMODB_URL", stack.dynamodb.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ],
        None => Vec::new(),
    };
    let cargo = |args: &[&str]| {
        let mut cmd = ws.cargo();
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd
    };

    if options.lint {
        steps.push(step(
            "fmt",
            &mut cargo(&["fmt", "--all", "--", "--check"]),
            "format the code: `cargo fmt --all`",
        ));
        steps.push(step(
            "clippy",
            &mut cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
            "fix the warnings above; `cargo clippy --workspace --all-targets -- -D warnings` checks again",
        ));
    }
    if options.infra {
        steps.push(infra_step("cfn-lint", &ws, crate::infra::lint));
        steps.push(infra_step("cfn-guard", &ws, crate::infra::guard));
    }
    steps.push(step(
        "doc tests",
        &mut cargo(&["test", "--workspace", "--doc"]),
        "run them alone: `cargo test --workspace --doc`",
    ));
    // The end-to-end tests need the built app (as it ships) and Debian's Chromium.
    if stack.is_some() {
        steps.push(frontend_step(&ws));
        steps.push(chromium_step());
    }
    // The deploy tests need moto, an OCI registry and the release image (built once here).
    let mut deploy_env = Vec::new();
    if stack.is_some() && !proc::shutdown_requested() {
        let started = Instant::now();
        match crate::deploy::prepare_tests(&ws) {
            Ok(vars) => {
                deploy_env = vars;
                steps.push(Step::passed("deploy prep", started));
            }
            Err(e) => steps.push(Step::failed(
                "deploy prep",
                started,
                e.to_string(),
                e.hint(),
            )),
        }
    }
    if stack.is_some() {
        let mut runner = if nextest_available(&ws) {
            cargo(&["nextest", "run", "--workspace", "--no-fail-fast"])
        } else {
            cargo(&["test", "--workspace", "--no-fail-fast"])
        };
        runner
            .args(&options.runner_args)
            .envs(deploy_env.iter().map(|(k, v)| (*k, v.as_str())));
        steps.push(step(
            "tests",
            &mut runner,
            "rerun some tests only: `cargo xtask test --no-lint -- NAME`",
        ));
    } else if !proc::shutdown_requested() {
        steps.push(Step {
            name: "tests",
            outcome: Outcome::Skipped("the local stack did not start".into()),
            took: Duration::ZERO,
            note: None,
        });
    }

    if let Some(stack) = stack {
        steps.push(cleanup(&stack, &prefix));
        stack.stop();
    }

    let interrupted = proc::shutdown_requested();
    summary(&run_id, &steps, interrupted);
    let failed = steps
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Failed { .. }));
    if interrupted {
        ExitCode::from(130)
    } else if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

impl Step {
    fn passed(name: &'static str, started: Instant) -> Self {
        Self {
            name,
            outcome: Outcome::Passed,
            took: started.elapsed(),
            note: None,
        }
    }

    fn skipped(name: &'static str, why: &str) -> Self {
        Self {
            name,
            outcome: Outcome::Skipped(why.into()),
            took: Duration::ZERO,
            note: None,
        }
    }

    fn failed(name: &'static str, started: Instant, why: String, hint: Option<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Failed { why, hint },
            took: started.elapsed(),
            note: None,
        }
    }
}

fn describe(cmd: &Command) -> String {
    let mut words = vec!["cargo".to_string()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs one step unless a shutdown was requested.
fn step(name: &'static str, cmd: &mut Command, hint: &str) -> Step {
    let started = Instant::now();
    if proc::shutdown_requested() {
        return Step {
            name,
            outcome: Outcome::Skipped("interrupted".into()),
            took: Duration::ZERO,
            note: None,
        };
    }
    let command = describe(cmd);
    eprintln!("\nxtask: {command}");
    match proc::status(&command, cmd) {
        Ok(status) if status.success() => Step::passed(name, started),
        Ok(status) => Step::failed(
            name,
            started,
            format!("`{command}` failed ({})", proc::describe(status)),
            Some(hint.to_string()),
        ),
        Err(proc::Error::Interrupted) => Step {
            name,
            outcome: Outcome::Interrupted,
            took: started.elapsed(),
            note: None,
        },
        Err(e) => Step::failed(name, started, e.to_string(), e.hint()),
    }
}

/// One of the infra checks (they install their tools on first use), unless interrupted.
fn infra_step(
    name: &'static str,
    ws: &Workspace,
    check: fn(&Workspace) -> Result<String, crate::infra::CheckError>,
) -> Step {
    let started = Instant::now();
    if proc::shutdown_requested() {
        return Step {
            name,
            outcome: Outcome::Skipped("interrupted".into()),
            took: Duration::ZERO,
            note: None,
        };
    }
    match check(ws) {
        Ok(note) => Step {
            note: Some(note),
            ..Step::passed(name, started)
        },
        Err(e) => Step::failed(name, started, e.why, e.hint),
    }
}

/// `cargo xtask frontend build --release`, unless interrupted.
fn frontend_step(ws: &Workspace) -> Step {
    let started = Instant::now();
    if proc::shutdown_requested() {
        return Step::skipped("frontend", "interrupted");
    }
    eprintln!("\nxtask: cargo xtask frontend build --release");
    match crate::frontend::build(ws, true) {
        Ok(built) => Step {
            note: Some(format!(
                "{} gzipped in {} files",
                crate::frontend::human(built.report.total_gzip()),
                built.report.files.len()
            )),
            ..Step::passed("frontend", started)
        },
        Err(e) => Step::failed("frontend", started, e.to_string(), e.hint()),
    }
}

/// Chromium and chromedriver for the end-to-end tests, installed with apt when missing.
fn chromium_step() -> Step {
    let started = Instant::now();
    if proc::shutdown_requested() {
        return Step::skipped("chromium", "interrupted");
    }
    match crate::frontend::ensure_chromium() {
        Ok(note) => Step {
            note: Some(note),
            ..Step::passed("chromium", started)
        },
        Err(e) => Step::failed("chromium", started, e.to_string(), e.hint()),
    }
}

fn nextest_available(ws: &Workspace) -> bool {
    let mut cmd = ws.cargo();
    cmd.args(["nextest", "--version"]);
    proc::capture("cargo nextest --version", &mut cmd, proc::OnShutdown::Abort)
        .is_ok_and(|out| out.status.success())
}

/// Drops this run's databases; runs even after an interruption.
fn cleanup(stack: &LocalStack, prefix: &str) -> Step {
    let started = Instant::now();
    match mysql::drop_databases_like(&stack.mysql, &mysql::like_prefix(prefix)) {
        Ok(dropped) => Step {
            note: Some(format!("dropped {} databases {prefix}*", dropped.len())),
            ..Step::passed("cleanup", started)
        },
        Err(e) => Step::failed(
            "cleanup",
            started,
            format!("could not drop databases {prefix}*: {e}"),
            e.hint(),
        ),
    }
}

fn summary(run_id: &str, steps: &[Step], interrupted: bool) {
    eprintln!("\nxtask: summary of test run {run_id}");
    for step in steps {
        let took = if step.took.is_zero() {
            String::new()
        } else {
            format!("{:.1} s", step.took.as_secs_f64())
        };
        let (label, detail) = match &step.outcome {
            Outcome::Passed => ("ok", step.note.clone().unwrap_or_default()),
            Outcome::Failed { why, .. } => ("FAILED", why.clone()),
            Outcome::Skipped(why) => ("skipped", why.clone()),
            Outcome::Interrupted => ("stopped", "interrupted by Ctrl-C".into()),
        };
        let line = format!("  {label:<8} {:<10} {took:>8}  {detail}", step.name);
        eprintln!("{}", line.trim_end());
        if let Outcome::Failed {
            hint: Some(hint), ..
        } = &step.outcome
        {
            eprintln!("  {:<8} {:<10} {:>8}  hint: {hint}", "", "", "");
        }
    }
    let failed = steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed { .. }))
        .count();
    if interrupted {
        eprintln!("xtask: interrupted");
    } else if failed == 0 {
        eprintln!("xtask: every step succeeded");
    } else {
        eprintln!("xtask: {failed} of {} steps failed", steps.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_short_and_safe_in_database_names() {
        let id = run_id();
        assert!(id.len() <= 12, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let prefix = format!("faro_t{id}_");
        assert!(
            prefix.len() + 40 <= 64,
            "leaves tests 40 characters of MySQL's 64"
        );
    }

    #[test]
    fn describes_cargo_commands() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.args(["fmt", "--all", "--", "--check"]);
        assert_eq!(describe(&cmd), "cargo fmt --all -- --check");
    }
}
