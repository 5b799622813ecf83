//! `cargo xtask`: Faro's own tooling, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask dev`: the local stack plus the backend, rebuilt and restarted on change
//! - `cargo xtask test`: fmt, clippy and every test against a real MariaDB and DynamoDB Local
//! - `cargo xtask bench`: start-up time, memory and throughput of the release backend, the
//!   image's and the frontend's sizes
//! - `cargo xtask cost --env NAME`: the monthly AWS cost of an environment, line by line
//! - `cargo xtask config-table [--check]`: the README's configuration table, from its list
//! - `cargo xtask frontend build [--release]`: the Leptos app into `frontend/dist/`, with sizes
//! - `cargo xtask image build|push`, `deploy`, `status`, `logs`, `rollback`, `destroy`: the
//!   release commands, forwarded to `faro-deploy` (tools/deploy)
//!
//! Arguments are parsed by hand here (no clap, to keep xtask quick to compile).

mod backend;
mod bench;
mod config_table;
mod cost;
mod deploy;
mod dev;
mod features;
mod frontend;
mod http;
mod infra;
mod npm;
mod prereq;
mod proc;
mod sim;
mod stack;
mod test;
mod watch;
mod workspace;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: cargo xtask <command> [flags]

commands:
  dev      run the local stack (MySQL, DynamoDB Local, the DeepSeek and SleakOps simulators unless
           their API keys are set) and the backend; rebuild and restart on change
             --port N            serve on port N (default $FARO_PORT or 8080)
  test     fmt, clippy, doc tests and all tests against the local stack
             --no-lint           skip cargo fmt and cargo clippy
             --no-infra          skip cfn-lint and the cfn-guard rules on infra/
             -- ARGS...          pass ARGS to the test runner, e.g. `cargo xtask test -- health`
  bench    start-up time, idle memory and load scenarios of the release backend; the release
           image's size and reproducibility (two builds) and the frontend's first load, each
           beside its budget (printed, not asserted)
             --duration SECS     measured seconds per scenario (default 10)
             --connections N     concurrent keep-alive connections (default 64)
             --scenario NAME     run only this scenario (healthz, readyz, list-releases,
                                 get-release, release-timeline, create-release, worker,
                                 image, first-load)
  cost     the monthly AWS cost of an environment from infra/env/NAME.json and infra/pricing.json
             --env NAME          the environment (staging, production, ...)
  config-table
           write README.md's configuration table from crates/config-vars/src/lib.rs
             --check             only say whether it is up to date (`cargo xtask test` does)
  frontend build
           the Leptos app (wasm) into frontend/dist/, printing each file's size raw and gzipped
             --release           optimise for size (wasm-release profile and wasm-opt)

  image build|push, deploy, status, logs, rollback, destroy
           the release commands, run by faro-deploy (tools/deploy) with the arguments unchanged:
           `cargo xtask deploy --env staging --plan`; each one's flags:
           `cargo xtask deploy --help`, `cargo xtask image --help`, ...

Ctrl-C stops everything xtask started.
";

use faro_infra_model::Hint;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Dev(dev::Options),
    Test(test::Options),
    Bench(bench::Options),
    Cost(cost::Options),
    /// `config-table`; `check`: compare only.
    ConfigTable {
        check: bool,
    },
    Frontend(frontend::Options),
    /// A release command and its arguments, forwarded unchanged to `faro-deploy`.
    Release(Vec<String>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum ArgError {
    #[error("no command given")]
    Missing,
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    #[error("unknown flag `{flag}` for `cargo xtask {command}`")]
    UnknownFlag { command: &'static str, flag: String },
    #[error("unexpected argument `{arg}` for `cargo xtask {command}`")]
    UnexpectedArgument { command: &'static str, arg: String },
    #[error("`{flag}` needs a value")]
    MissingValue { flag: String },
    #[error("`{flag}` expects {expected}, got `{value}`")]
    BadValue {
        flag: String,
        expected: &'static str,
        value: String,
    },
}

impl Hint for ArgError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Missing | Self::UnknownCommand(_) => {
                "the commands are dev, test, bench, cost, config-table, frontend, image, deploy, \
                 status, logs, rollback and destroy: `cargo xtask dev`, `cargo xtask test`, `cargo xtask bench`, \
                 `cargo xtask cost --env staging`, `cargo xtask frontend build`, \
                 `cargo xtask deploy --env staging --plan`; see `cargo xtask --help`"
                    .into()
            }
            Self::UnknownFlag { command, .. } | Self::UnexpectedArgument { command, .. } => {
                format!(
                    "see the flags of each command with `cargo xtask --help` (this was `{command}`)"
                )
            }
            Self::MissingValue { flag } | Self::BadValue { flag, .. } => match flag.as_str() {
                "--port" => "for example `cargo xtask dev --port 8081`".into(),
                "--duration" => "for example `cargo xtask bench --duration 10`".into(),
                "--connections" => "for example `cargo xtask bench --connections 64`".into(),
                "--scenario" => "for example `cargo xtask bench --scenario healthz`".into(),
                "--env" => "for example `cargo xtask cost --env staging`".into(),
                _ => "see `cargo xtask --help`".into(),
            },
        })
    }
}

/// Every error xtask can end with.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Args(#[from] ArgError),
    #[error(transparent)]
    Proc(#[from] proc::Error),
    #[error(transparent)]
    Dev(#[from] dev::Error),
    #[error(transparent)]
    Bench(#[from] bench::Error),
    #[error(transparent)]
    Cost(#[from] cost::Error),
    #[error(transparent)]
    ConfigTable(#[from] config_table::Error),
    #[error(transparent)]
    Frontend(#[from] frontend::Error),
    #[error(transparent)]
    Release(#[from] deploy::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Args(e) => e.hint(),
            Self::Proc(e) => e.hint(),
            Self::Dev(e) => e.hint(),
            Self::Bench(e) => e.hint(),
            Self::Cost(e) => e.hint(),
            Self::ConfigTable(e) => e.hint(),
            Self::Frontend(e) => e.hint(),
            Self::Release(e) => e.hint(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(e) => return report(&Error::from(e)),
    };
    if command == Command::Help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = proc::install_signal_handlers() {
        return report(&Error::from(e));
    }
    let interrupted_code = match command {
        Command::Test(_) => ExitCode::from(130),
        _ => ExitCode::SUCCESS,
    };
    let result = match command {
        Command::Help => unreachable!("handled above"),
        Command::Dev(options) => dev::run(&options).map_err(Error::from),
        Command::Test(options) => Ok(test::run(&options)),
        Command::Bench(options) => bench::run(&options).map_err(Error::from),
        Command::Frontend(options) => frontend::run(&options).map_err(Error::from),
        Command::Release(args) => {
            deploy::run(&workspace::Workspace::locate(), &args).map_err(Error::from)
        }
        Command::Cost(options) => cost::run(&options)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Error::from),
        Command::ConfigTable { check } => config_table::run(&workspace::Workspace::locate(), check)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Error::from),
    };
    match result {
        Ok(code) => code,
        // Errors caused by the interruption itself (a killed child, an aborted wait) are no news.
        Err(_) if proc::shutdown_requested() => {
            eprintln!("xtask: interrupted");
            interrupted_code
        }
        Err(e) => report(&e),
    }
}

fn report(error: &Error) -> ExitCode {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("  hint: {hint}");
    }
    ExitCode::FAILURE
}

fn parse_args(args: &[String]) -> Result<Command, ArgError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(ArgError::Missing);
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        return Ok(Command::Help);
    }
    // faro-deploy parses these, `--help` included.
    if deploy::COMMANDS.contains(&command.as_str()) {
        return Ok(Command::Release(args.to_vec()));
    }
    // `--help` anywhere before a `--` asks for help, whatever else is there.
    if rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help")
    {
        return Ok(Command::Help);
    }
    match command.as_str() {
        "dev" => parse_dev(rest).map(Command::Dev),
        "test" => parse_test(rest).map(Command::Test),
        "bench" => parse_bench(rest).map(Command::Bench),
        "cost" => cost::parse(rest).map(Command::Cost),
        "config-table" => parse_config_table(rest),
        "frontend" => parse_frontend(rest).map(Command::Frontend),
        other => Err(ArgError::UnknownCommand(other.to_string())),
    }
}

/// Walks flags of the form `--flag`, `--flag value` and `--flag=value`.
struct Flags<'a> {
    command: &'static str,
    args: std::slice::Iter<'a, String>,
}

impl<'a> Flags<'a> {
    fn new(command: &'static str, args: &'a [String]) -> Self {
        Self {
            command,
            args: args.iter(),
        }
    }

    /// The next flag name and its inline `=value`, if any.
    fn next_flag(&mut self) -> Result<Option<(&'a str, Option<&'a str>)>, ArgError> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        if arg == "--" {
            return Ok(Some(("--", None)));
        }
        if !arg.starts_with('-') {
            return Err(ArgError::UnexpectedArgument {
                command: self.command,
                arg: arg.clone(),
            });
        }
        Ok(Some(match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg.as_str(), None),
        }))
    }

    fn value(&mut self, flag: &str, inline: Option<&'a str>) -> Result<&'a str, ArgError> {
        if let Some(value) = inline {
            return Ok(value);
        }
        match self.args.next() {
            Some(value) if !value.starts_with("--") => Ok(value),
            _ => Err(ArgError::MissingValue { flag: flag.into() }),
        }
    }

    fn rest(&mut self) -> Vec<String> {
        self.args.by_ref().cloned().collect()
    }

    fn unknown(&self, flag: &str) -> ArgError {
        ArgError::UnknownFlag {
            command: self.command,
            flag: flag.into(),
        }
    }
}

fn parse_number<T: std::str::FromStr + PartialOrd>(
    flag: &str,
    value: &str,
    expected: &'static str,
    min: T,
) -> Result<T, ArgError> {
    match value.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(ArgError::BadValue {
            flag: flag.into(),
            expected,
            value: value.into(),
        }),
    }
}

fn parse_dev(args: &[String]) -> Result<dev::Options, ArgError> {
    let mut options = dev::Options::default();
    let mut flags = Flags::new("dev", args);
    while let Some((flag, inline)) = flags.next_flag()? {
        match flag {
            "--port" => {
                let value = flags.value(flag, inline)?;
                options.port = Some(parse_number(flag, value, "a port number 1-65535", 1)?);
            }
            _ => return Err(flags.unknown(flag)),
        }
    }
    Ok(options)
}

fn parse_test(args: &[String]) -> Result<test::Options, ArgError> {
    let mut options = test::Options::default();
    let mut flags = Flags::new("test", args);
    while let Some((flag, _)) = flags.next_flag()? {
        match flag {
            "--no-lint" => options.lint = false,
            "--no-infra" => options.infra = false,
            "--" => options.runner_args = flags.rest(),
            _ => return Err(flags.unknown(flag)),
        }
    }
    Ok(options)
}

/// `frontend build [--release]`: `build` is the only action so far.
fn parse_frontend(args: &[String]) -> Result<frontend::Options, ArgError> {
    let action = args.first().map(String::as_str);
    if action != Some("build") {
        return Err(ArgError::UnexpectedArgument {
            command: "frontend",
            arg: action.unwrap_or("(nothing)").to_owned(),
        });
    }
    let mut options = frontend::Options::default();
    let mut flags = Flags::new("frontend", &args[1..]);
    while let Some((flag, _)) = flags.next_flag()? {
        match flag {
            "--release" => options.release = true,
            _ => return Err(flags.unknown(flag)),
        }
    }
    Ok(options)
}

fn parse_config_table(args: &[String]) -> Result<Command, ArgError> {
    let mut check = false;
    let mut flags = Flags::new("config-table", args);
    while let Some((flag, _)) = flags.next_flag()? {
        match flag {
            "--check" => check = true,
            _ => return Err(flags.unknown(flag)),
        }
    }
    Ok(Command::ConfigTable { check })
}

fn parse_bench(args: &[String]) -> Result<bench::Options, ArgError> {
    let mut options = bench::Options::default();
    let mut flags = Flags::new("bench", args);
    while let Some((flag, inline)) = flags.next_flag()? {
        match flag {
            "--duration" => {
                let value = flags.value(flag, inline)?;
                let secs: u64 = parse_number(flag, value, "whole seconds, at least 1", 1)?;
                options.duration = Duration::from_secs(secs);
            }
            "--connections" => {
                let value = flags.value(flag, inline)?;
                options.connections =
                    parse_number(flag, value, "a number of connections 1-4096", 1)?;
                if options.connections > 4096 {
                    return Err(ArgError::BadValue {
                        flag: flag.into(),
                        expected: "a number of connections 1-4096",
                        value: value.into(),
                    });
                }
            }
            "--scenario" => {
                let value = flags.value(flag, inline)?;
                options.scenario = Some(value.to_string());
            }
            _ => return Err(flags.unknown(flag)),
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ArgError> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_args(&args)
    }

    #[test]
    fn help_anywhere() {
        assert_eq!(parse("--help"), Ok(Command::Help));
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse("bench --duration 3 -h"), Ok(Command::Help));
        // after `--` it belongs to the test runner
        assert!(matches!(parse("test -- --help"), Ok(Command::Test(_))));
    }

    #[test]
    fn missing_and_unknown_commands() {
        assert_eq!(parse(""), Err(ArgError::Missing));
        let err = parse("ship").unwrap_err();
        assert_eq!(err, ArgError::UnknownCommand("ship".into()));
        let hint = err.hint().unwrap();
        assert!(
            hint.contains("cargo xtask dev") && hint.contains("cargo xtask bench"),
            "{hint}"
        );
    }

    #[test]
    fn config_table_writes_or_checks() {
        assert_eq!(
            parse("config-table"),
            Ok(Command::ConfigTable { check: false })
        );
        assert_eq!(
            parse("config-table --check"),
            Ok(Command::ConfigTable { check: true })
        );
        assert!(matches!(
            parse("config-table --write"),
            Err(ArgError::UnknownFlag { .. })
        ));
    }

    #[test]
    fn dev_port() {
        assert_eq!(parse("dev"), Ok(Command::Dev(dev::Options { port: None })));
        assert_eq!(
            parse("dev --port 9000"),
            Ok(Command::Dev(dev::Options { port: Some(9000) }))
        );
        assert_eq!(
            parse("dev --port=9001"),
            Ok(Command::Dev(dev::Options { port: Some(9001) }))
        );
        assert!(matches!(
            parse("dev --port"),
            Err(ArgError::MissingValue { .. })
        ));
        assert!(matches!(
            parse("dev --port 0"),
            Err(ArgError::BadValue { .. })
        ));
        assert!(matches!(
            parse("dev --port 70000"),
            Err(ArgError::BadValue { .. })
        ));
        assert!(matches!(
            parse("dev --verbose"),
            Err(ArgError::UnknownFlag { .. })
        ));
        assert!(matches!(
            parse("dev now"),
            Err(ArgError::UnexpectedArgument { .. })
        ));
    }

    #[test]
    fn test_flags_and_runner_args() {
        let Ok(Command::Test(options)) = parse("test") else {
            panic!()
        };
        assert!(options.lint);
        assert!(options.runner_args.is_empty());
        let Ok(Command::Test(options)) = parse("test --no-lint -- health --nocapture") else {
            panic!()
        };
        assert!(!options.lint);
        assert_eq!(options.runner_args, ["health", "--nocapture"]);
        assert!(matches!(
            parse("test health"),
            Err(ArgError::UnexpectedArgument { .. })
        ));
        assert!(matches!(
            parse("test --lint"),
            Err(ArgError::UnknownFlag { .. })
        ));
    }

    #[test]
    fn frontend_build() {
        assert_eq!(
            parse("frontend build"),
            Ok(Command::Frontend(frontend::Options { release: false }))
        );
        assert_eq!(
            parse("frontend build --release"),
            Ok(Command::Frontend(frontend::Options { release: true }))
        );
        let err = parse("frontend").unwrap_err();
        assert!(matches!(err, ArgError::UnexpectedArgument { .. }), "{err}");
        assert!(err.hint().unwrap().contains("--help"));
        assert!(matches!(
            parse("frontend build --fast"),
            Err(ArgError::UnknownFlag { .. })
        ));
    }

    #[test]
    fn bench_flags() {
        let Ok(Command::Bench(options)) = parse("bench") else {
            panic!()
        };
        assert_eq!(options, bench::Options::default());
        assert_eq!(options.duration, Duration::from_secs(10));
        assert_eq!(options.connections, 64);
        let Ok(Command::Bench(options)) =
            parse("bench --duration 3 --connections=8 --scenario healthz")
        else {
            panic!()
        };
        assert_eq!(options.duration, Duration::from_secs(3));
        assert_eq!(options.connections, 8);
        assert_eq!(options.scenario.as_deref(), Some("healthz"));
        assert!(matches!(
            parse("bench --duration 0"),
            Err(ArgError::BadValue { .. })
        ));
        assert!(matches!(
            parse("bench --duration ten"),
            Err(ArgError::BadValue { .. })
        ));
        assert!(matches!(
            parse("bench --connections 0"),
            Err(ArgError::BadValue { .. })
        ));
        assert!(matches!(
            parse("bench --connections 5000"),
            Err(ArgError::BadValue { .. })
        ));
        assert!(matches!(
            parse("bench --scenario --duration 3"),
            Err(ArgError::MissingValue { .. })
        ));
    }

    #[test]
    fn release_commands_are_forwarded_unchanged() {
        for line in [
            "deploy --env staging --plan --rollout-timeout=600",
            "image push --registry 127.0.0.1:5000/faro/backend",
            "logs --env production --follow --since 15m",
            "status --help",
            "image",
            "deploy staging --typo",
        ] {
            let args: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert_eq!(parse(line), Ok(Command::Release(args)), "{line}");
        }
    }
}
