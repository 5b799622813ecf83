//! `cargo xtask test`: lint and every test of the workspace against the real local stack.
//!
//! Every step runs even when another fails (the tests are skipped only when the stack could not
//! start or the workspace did not compile). The workspace is compiled once, linted, and the doc
//! tests and the runner reuse that build; the app's wasm build and the tool installs run in
//! threads beside it. Doc tests run before the main test runner so that the run's last lines are
//! the runner's summary, followed by the table of steps and the total time.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::stack::{LocalStack, Mode, mysql};
use crate::workspace::Workspace;
use crate::{Hint, proc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Run `cargo fmt --check` and `cargo clippy` (off with `--no-lint`).
    pub lint: bool,
    /// Run cfn-lint, the cfn-guard rules and checkov on `infra/` (off with `--no-infra`).
    pub infra: bool,
    /// Run schemathesis against the backend and its OpenAPI document (off with
    /// `--no-contract`).
    pub contract: bool,
    /// Arguments after `--`, for the test runner.
    pub runner_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lint: true,
            infra: true,
            contract: true,
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

/// `CLIPPY_ARGS` as `cargo clippy -- -D warnings` sets it for clippy-driver.
const CLIPPY_DENY_WARNINGS: &str = "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__";

/// What makes a build of the workspace also its lint: clippy-driver wraps rustc for the
/// workspace's own crates (not for dependencies, so they are compiled once for clippy, doc tests
/// and tests alike) and denies every warning, rustc's and clippy's.
pub fn lint_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "RUSTC_WORKSPACE_WRAPPER",
            clippy_driver().display().to_string(),
        ),
        ("CLIPPY_ARGS", CLIPPY_DENY_WARNINGS.to_string()),
    ]
}

/// The clippy-driver beside the cargo that runs xtask (the toolchain of rust-toolchain.toml),
/// else the one on PATH.
fn clippy_driver() -> PathBuf {
    std::env::var_os("CARGO")
        .map(|cargo| Path::new(&cargo).with_file_name("clippy-driver"))
        .filter(|driver| driver.is_file())
        .unwrap_or_else(|| PathBuf::from("clippy-driver"))
}

/// The one compile of the workspace: every target, as the test runner and the doc tests will
/// want them, with clippy's lints when `lint` is on.
pub fn build_command(ws: &Workspace, lint: bool) -> Command {
    let mut cmd = ws.cargo();
    cmd.args(["test", "--workspace", "--all-targets", "--no-run"]);
    if lint {
        cmd.envs(lint_env());
    } else {
        for (name, _) in lint_env() {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Every failure becomes a failed step in the summary, so this has no error of its own.
pub fn run(options: &Options) -> ExitCode {
    let run_started = Instant::now();
    let ws = Workspace::locate();
    let run_id = run_id();
    let prefix = format!("faro_t{run_id}_");
    eprintln!("xtask: test run {run_id} (databases {prefix}*)");
    let mut steps = Vec::new();

    // The tools wait mostly on the network, not on the CPU: they are installed while the
    // workspace compiles.
    let tools = {
        let ws = ws.clone();
        let (infra, contract) = (options.infra, options.contract);
        std::thread::spawn(move || tools_step(&ws, infra, contract))
    };
    // The app's wasm build is a dependency graph of its own (another target, another profile,
    // other cargo locks): compiled beside the workspace, it fills the cores that the
    // workspace's compile leaves idle at its narrow points (and the reverse).
    let frontend = {
        let ws = ws.clone();
        std::thread::spawn(move || frontend_step(&ws))
    };

    // On this thread: its servers must live until the end of the run (see `proc::spawn`).
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
    if options.lint {
        steps.push(step(
            "fmt",
            ws.cargo().args(["fmt", "--all", "--", "--check"]),
            "format the code: `cargo fmt --all`",
        ));
    }
    steps.push(tidy_step(&ws));
    let compile_env = compile(&ws, options.lint, &mut steps);

    steps.push(
        tools
            .join()
            .unwrap_or_else(|_| Step::failed("tools", Instant::now(), "panicked".into(), None)),
    );
    let mut env: Vec<(&str, String)> = match &stack {
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
    env.extend(compile_env.iter().flatten().cloned());
    // The backend's database credential tests keep their secrets in moto's Secrets Manager
    // (installed by the tools step; the deploy tests get it from `deploy::prepare_tests` too).
    if stack.is_some()
        && let Ok(moto) = crate::infra::python_tool(&ws, &crate::infra::MOTO)
    {
        env.push(("FARO_TEST_MOTO_PYTHON", moto.display().to_string()));
    }
    let cargo = |args: &[&str]| {
        let mut cmd = ws.cargo();
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd
    };
    let built = compile_env.is_some();

    if options.infra {
        steps.push(infra_step("cfn-lint", &ws, crate::infra::lint));
        steps.push(infra_step("cfn-guard", &ws, crate::infra::guard));
        steps.push(infra_step("checkov", &ws, crate::infra::checkov));
    }
    if built {
        steps.push(step(
            "doc tests",
            &mut cargo(&["test", "--workspace", "--doc"]),
            "run them alone: `cargo test --workspace --doc`",
        ));
    }
    // The end-to-end tests need the built app (as it ships) and Debian's Chromium.
    steps.push(
        frontend
            .join()
            .unwrap_or_else(|_| Step::failed("frontend", Instant::now(), "panicked".into(), None)),
    );
    if stack.is_some() {
        steps.push(chromium_step());
    }
    // The deploy tests need moto, an OCI registry and an image of the backend just built.
    let mut deploy_env = Vec::new();
    if stack.is_some() && built && !proc::shutdown_requested() {
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
    if stack.is_some() && built {
        let mut runner = match crate::infra::nextest(&ws) {
            Ok(nextest) => {
                let mut cmd = Command::new(nextest);
                cmd.current_dir(&ws.root)
                    .args(["nextest", "run", "--workspace", "--no-fail-fast"])
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
                cmd
            }
            Err(e) => {
                eprintln!(
                    "xtask: note: cargo-nextest is not available ({e}); running `cargo test`, \
                     which ignores the browser tests' limit in .config/nextest.toml"
                );
                cargo(&["test", "--workspace", "--no-fail-fast"])
            }
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
            outcome: Outcome::Skipped(if built {
                "the local stack did not start".into()
            } else {
                "the workspace did not compile".into()
            }),
            took: Duration::ZERO,
            note: None,
        });
    }

    if options.contract && stack.is_some() && built {
        steps.push(contract_step(&ws, &env));
    }

    if let Some(stack) = stack {
        steps.push(cleanup(&stack, &prefix));
        stack.stop();
    }

    let interrupted = proc::shutdown_requested();
    summary(&run_id, &steps, interrupted, run_started.elapsed());
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

/// The one compile, linted when `lint` is on; returns the environment later cargo calls need to
/// reuse it, or `None` when nothing compiled. A lint failure still compiles once more without
/// the lint, so that the tests run and report as well.
fn compile(
    ws: &Workspace,
    lint: bool,
    steps: &mut Vec<Step>,
) -> Option<Vec<(&'static str, String)>> {
    if lint {
        let linted = step(
            "clippy",
            &mut build_command(ws, true),
            "fix the errors above; `cargo clippy --workspace --all-targets -- -D warnings` \
             checks again",
        );
        let passed = linted.outcome == Outcome::Passed;
        steps.push(Step {
            note: passed.then(|| "and the test build, in one compile".into()),
            ..linted
        });
        if passed {
            return Some(lint_env());
        }
    }
    let built = step(
        "build",
        &mut build_command(ws, false),
        "fix the compile errors above",
    );
    let passed = built.outcome == Outcome::Passed;
    steps.push(built);
    passed.then(Vec::new)
}

/// The tools of the later steps, installed beside the compile: each later step finds its tool
/// in place, or reports why it is not there.
fn tools_step(ws: &Workspace, infra: bool, contract: bool) -> Step {
    let started = Instant::now();
    let mut ready = Vec::new();
    let mut note = |name: &'static str, ok: bool| {
        if ok {
            ready.push(name);
        }
    };
    note("cargo-nextest", crate::infra::nextest(ws).is_ok());
    if infra {
        note("cfn-lint", crate::infra::tools::cfn_lint(ws).is_ok());
        note("cfn-guard", crate::infra::tools::cfn_guard().is_ok());
        note(
            "checkov",
            crate::infra::python_tool(ws, &crate::infra::CHECKOV).is_ok(),
        );
    }
    note("chromium", crate::frontend::ensure_chromium().is_ok());
    note(
        "moto",
        crate::infra::python_tool(ws, &crate::infra::MOTO).is_ok(),
    );
    note("docker-registry", crate::deploy::registry_binary().is_ok());
    if contract {
        note(
            "schemathesis",
            crate::infra::python_tool(ws, &crate::infra::SCHEMATHESIS).is_ok(),
        );
    }
    Step {
        note: Some(format!("ready: {}", ready.join(", "))),
        ..Step::passed("tools", started)
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

/// The test that runs schemathesis against the backend (`backend/tests/api/contract.rs`),
/// ignored by the other steps since it needs schemathesis's venv.
const CONTRACT_TEST: &str = "contract::schemathesis_finds_nothing_the_document_does_not_promise";

/// schemathesis against the real backend, signed in: every phase (stateful included), every
/// check; any finding fails the step, and its report is printed.
fn contract_step(ws: &Workspace, env: &[(&str, String)]) -> Step {
    if proc::shutdown_requested() {
        return Step::skipped("contract", "interrupted");
    }
    let started = Instant::now();
    let python = match crate::infra::python_tool(ws, &crate::infra::SCHEMATHESIS) {
        Ok(python) => python,
        Err(e) => return Step::failed("contract", started, e.to_string(), e.hint()),
    };
    let mut cmd = match crate::infra::nextest(ws) {
        Ok(nextest) => {
            let mut cmd = Command::new(nextest);
            cmd.current_dir(&ws.root).args([
                "nextest",
                "run",
                // The whole workspace, as the tests step builds it: `-p faro-backend` alone
                // would unify features differently and compile a hundred crates again.
                "--workspace",
                "--run-ignored",
                "only",
                "--no-capture",
                "-E",
                &format!("package(faro-backend) & binary(api) & test(={CONTRACT_TEST})"),
            ]);
            cmd
        }
        Err(_) => {
            let mut cmd = ws.cargo();
            cmd.args(["test", "--workspace", "--test", "api", "--"])
                .args(["--ignored", "--exact", "--nocapture", CONTRACT_TEST]);
            cmd
        }
    };
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("FARO_SCHEMATHESIS_PYTHON", &python);
    let step = step(
        "contract",
        &mut cmd,
        "each finding above names the operation, the check and a curl command that reproduces \
         it: fix the server (or the document, when it is the one that is wrong)",
    );
    Step {
        note: Some(format!(
            "schemathesis {}",
            crate::infra::SCHEMATHESIS.version
        )),
        ..step
    }
}

/// Runs one step unless a shutdown was requested.
fn step(name: &'static str, cmd: &mut Command, hint: &str) -> Step {
    let started = Instant::now();
    if proc::shutdown_requested() {
        return Step::skipped(name, "interrupted");
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
        return Step::skipped(name, "interrupted");
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

/// The README's generated configuration table matches the list it comes from.
fn tidy_step(ws: &Workspace) -> Step {
    let started = Instant::now();
    match crate::config_table::check(ws) {
        Ok(()) => Step::passed("tidy", started),
        Err(e) => Step::failed("tidy", started, e.to_string(), e.hint()),
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

fn summary(run_id: &str, steps: &[Step], interrupted: bool, total: Duration) {
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
    eprintln!(
        "  {:<8} {:<10} {:>8}",
        "",
        "total",
        format!("{:.1} s", total.as_secs_f64())
    );
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

    /// A crate outside the workspace, built the way `cargo xtask test` builds the workspace.
    fn probe_crate(name: &str, lib: &str) -> Workspace {
        let root = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nedition = \"2024\"\n\n[workspace]\n"),
        )
        .unwrap();
        // The same toolchain as the workspace, so rustc and clippy-driver agree.
        let toolchain = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-toolchain.toml");
        std::fs::copy(toolchain, root.join("rust-toolchain.toml")).unwrap();
        std::fs::write(root.join("src/lib.rs"), lib).unwrap();
        Workspace {
            target: root.join("target"),
            root,
        }
    }

    fn builds(ws: &Workspace, lint: bool) -> (bool, String) {
        let output = build_command(ws, lint)
            .env("CARGO_TARGET_DIR", &ws.target)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    #[test]
    fn the_linted_build_fails_on_a_clippy_warning_in_test_code_and_passes_without() {
        let with_warning = "pub fn double(x: u32) -> u32 {\n    x * 2\n}\n\n\
            #[cfg(test)]\nmod tests {\n    fn two() -> u32 {\n        return 2;\n    }\n\n    \
            #[test]\n    fn doubles() {\n        assert_eq!(super::double(1), two());\n    }\n}\n";
        let ws = probe_crate("lint-probe", with_warning);
        let (ok, stderr) = builds(&ws, true);
        assert!(
            !ok,
            "a clippy warning must fail the linted build:\n{stderr}"
        );
        assert!(stderr.contains("needless_return"), "{stderr}");
        let (ok, stderr) = builds(&ws, false);
        assert!(ok, "the same code builds without the lint:\n{stderr}");

        std::fs::write(
            ws.root.join("src/lib.rs"),
            with_warning.replace("return 2;", "2"),
        )
        .unwrap();
        let (ok, stderr) = builds(&ws, true);
        assert!(ok, "clean code passes the linted build:\n{stderr}");

        std::fs::write(
            ws.root.join("src/lib.rs"),
            "pub fn f() {\n    let unused = 1;\n}\n",
        )
        .unwrap();
        let (ok, stderr) = builds(&ws, true);
        assert!(!ok, "a rustc warning fails it too:\n{stderr}");
        assert!(
            stderr.contains("unused_variables") || stderr.contains("unused variable"),
            "{stderr}"
        );
        let _ = std::fs::remove_dir_all(&ws.root);
    }

    #[test]
    fn describes_cargo_commands() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.args(["fmt", "--all", "--", "--check"]);
        assert_eq!(describe(&cmd), "cargo fmt --all -- --check");
    }
}
