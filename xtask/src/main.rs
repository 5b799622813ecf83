//! `cargo xtask`: Faro's own tooling, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask dev`: the local stack plus the backend, rebuilt and restarted on change
//! - `cargo xtask test`: fmt, clippy and every test against a real MariaDB and DynamoDB Local
//! - `cargo xtask bench`: start-up time, memory and throughput of the release backend, the
//!   image's and the frontend's sizes
//! - `cargo xtask cost --env NAME`: the monthly AWS cost of an environment, line by line
//! - `cargo xtask config-table [--check]`: the README's configuration table, from its list
//! - `cargo xtask frontend build [--release]`: the Leptos app into `frontend/dist/`, with sizes
//! - `cargo xtask frontend configure`: an environment's `config.json` and Amplify's headers
//! - `cargo xtask image build|push`, `deploy`, `status`, `logs`, `rollback`, `destroy`: the
//!   release commands, forwarded to `faro-deploy` (tools/deploy)
//!
//! Arguments are parsed by hand here (no clap, to keep xtask quick to compile).

mod backend;
mod bench;
mod cache;
mod config_table;
mod cost;
mod demo;
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
             --no-infra          skip cfn-lint, the cfn-guard rules and checkov on infra/
             --no-contract       skip the schemathesis run against the OpenAPI document
             -- ARGS...          pass ARGS to the test runner, e.g. `cargo xtask test -- health`
  bench    start-up time, idle memory and load scenarios of the release backend, what attacks
           make it spend (abuse); the release image's size and reproducibility (two builds)
           and the frontend's first load, each beside its budget (printed, not asserted)
             --duration SECS     measured seconds per scenario (default 10)
             --connections N     concurrent keep-alive connections (default 64)
             --scenario NAMES    run only these scenarios, separated by commas (healthz,
                                 readyz, list-releases, get-release, release-timeline,
                                 create-release, worker, abuse, image, first-load)
  cost     the monthly AWS cost of an environment from infra/env/NAME.json and infra/pricing.json
             --env NAME          the environment (staging, production, ...)
  config-table
           write README.md's configuration table from crates/config-vars/src/lib.rs
             --check             only say whether it is up to date (`cargo xtask test` does)
  frontend build
           the Leptos app (wasm) into frontend/dist/, printing each file's size raw and gzipped
             --release           optimise for size (wasm-release profile and wasm-opt)
  frontend configure
           an environment's frontend/dist/config.json and Amplify's customHttp.yml (the app's
           Content-Security-Policy and hardening headers; Amplify CI runs it)
             --api-base-url URL  the API's base URL (required; empty for the app's own origin)
             --environment NAME  the environment's name the app shows

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
    FrontendConfigure(frontend::Configure),
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
                "--api-base-url" | "--environment" => "for example `cargo xtask frontend \
                     configure --api-base-url https://api.example.com --environment staging`"
                    .into(),
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
        Command::FrontendConfigure(options) => frontend::configure(&options).map_err(Error::from),
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
        "dev" => parse_flags("dev", Command::Dev(Default::default()), rest),
        "test" => parse_flags("test", Command::Test(Default::default()), rest),
        "bench" => parse_flags("bench", Command::Bench(Default::default()), rest),
        "cost" => cost::parse(rest).map(Command::Cost),
        "config-table" => parse_flags("config-table", Command::ConfigTable { check: false }, rest),
        "frontend" => parse_frontend(rest),
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

    /// The flag's value as a number within `range`; `expected` says which, for the error.
    fn number<T: std::str::FromStr + PartialOrd>(
        &mut self,
        flag: &str,
        inline: Option<&'a str>,
        expected: &'static str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ArgError> {
        let value = self.value(flag, inline)?;
        match value.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ArgError::BadValue {
                flag: flag.into(),
                expected,
                value: value.into(),
            }),
        }
    }

    fn unknown(&self, flag: &str) -> ArgError {
        ArgError::UnknownFlag {
            command: self.command,
            flag: flag.into(),
        }
    }
}

/// One flag met while parsing, with what it may take as its value.
struct Flag<'f, 'a> {
    name: &'a str,
    /// Its inline `=value`, if any.
    inline: Option<&'a str>,
    flags: &'f mut Flags<'a>,
}

impl<'a> Flag<'_, 'a> {
    fn value(&mut self) -> Result<&'a str, ArgError> {
        self.flags.value(self.name, self.inline)
    }

    fn number<T: std::str::FromStr + PartialOrd>(
        &mut self,
        expected: &'static str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ArgError> {
        self.flags.number(self.name, self.inline, expected, range)
    }

    /// Everything after it, unparsed.
    fn rest(&mut self) -> Vec<String> {
        self.flags.rest()
    }
}

/// Parses the flags of `command` (named `name`) onto its default options.
fn parse_flags(
    command_name: &'static str,
    mut command: Command,
    args: &[String],
) -> Result<Command, ArgError> {
    let mut flags = Flags::new(command_name, args);
    while let Some((name, inline)) = flags.next_flag()? {
        let flag = Flag {
            name,
            inline,
            flags: &mut flags,
        };
        if !set_flag(&mut command, flag)? {
            return Err(flags.unknown(name));
        }
    }
    Ok(command)
}

/// Every command's flags and what each sets; `Ok(false)` for a flag the command does not know.
fn set_flag(command: &mut Command, mut flag: Flag<'_, '_>) -> Result<bool, ArgError> {
    match (command, flag.name) {
        (Command::Dev(options), "--port") => {
            options.port = Some(flag.number("a port number 1-65535", 1..=u16::MAX)?);
        }
        (Command::Test(options), "--no-lint") => options.lint = false,
        (Command::Test(options), "--no-infra") => options.infra = false,
        (Command::Test(options), "--no-contract") => options.contract = false,
        (Command::Test(options), "--") => options.runner_args = flag.rest(),
        (Command::Bench(options), "--duration") => {
            let secs = flag.number("whole seconds, at least 1", 1..=u64::MAX)?;
            options.duration = Duration::from_secs(secs);
        }
        (Command::Bench(options), "--connections") => {
            options.connections = flag.number("a number of connections 1-4096", 1..=4096)?;
        }
        (Command::Bench(options), "--scenario") => {
            options.scenario = Some(flag.value()?.to_string());
        }
        (Command::ConfigTable { check }, "--check") => *check = true,
        (Command::Frontend(options), "--release") => options.release = true,
        (Command::FrontendConfigure(options), "--api-base-url") => {
            options.api_base_url = flag.value()?.to_string();
        }
        (Command::FrontendConfigure(options), "--environment") => {
            options.environment = flag.value()?.to_string();
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `frontend build [--release]`, `frontend configure --api-base-url URL [--environment NAME]`.
fn parse_frontend(args: &[String]) -> Result<Command, ArgError> {
    let (command, flags) = match args.first().map(String::as_str) {
        Some("build") => (Command::Frontend(Default::default()), &args[1..]),
        Some("configure") => {
            // Required, though it may be empty (the app's own origin).
            let given = args[1..]
                .iter()
                .any(|a| a == "--api-base-url" || a.starts_with("--api-base-url="));
            if !given {
                return Err(ArgError::MissingValue {
                    flag: "--api-base-url".into(),
                });
            }
            (Command::FrontendConfigure(Default::default()), &args[1..])
        }
        action => {
            return Err(ArgError::UnexpectedArgument {
                command: "frontend",
                arg: action.unwrap_or("(nothing)").to_owned(),
            });
        }
    };
    parse_flags("frontend", command, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ArgError> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_args(&args)
    }

    /// Each line is refused with the named kind of error (an `ArgError` variant).
    fn assert_refused(cases: &[(&str, &str)]) {
        for (line, expected) in cases {
            let kind = match parse(line) {
                Ok(command) => panic!("`{line}` was accepted as {command:?}"),
                Err(ArgError::Missing) => "Missing",
                Err(ArgError::UnknownCommand(_)) => "UnknownCommand",
                Err(ArgError::UnknownFlag { .. }) => "UnknownFlag",
                Err(ArgError::UnexpectedArgument { .. }) => "UnexpectedArgument",
                Err(ArgError::MissingValue { .. }) => "MissingValue",
                Err(ArgError::BadValue { .. }) => "BadValue",
            };
            assert_eq!(kind, *expected, "{line}");
        }
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
        assert_refused(&[("config-table --write", "UnknownFlag")]);
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
        assert_refused(&[
            ("dev --port", "MissingValue"),
            ("dev --port 0", "BadValue"),
            ("dev --port 70000", "BadValue"),
            ("dev --verbose", "UnknownFlag"),
            ("dev now", "UnexpectedArgument"),
        ]);
    }

    #[test]
    fn test_flags_and_runner_args() {
        let Ok(Command::Test(options)) = parse("test") else {
            panic!()
        };
        assert!(options.lint);
        assert!(options.contract);
        assert!(options.runner_args.is_empty());
        let Ok(Command::Test(options)) = parse("test --no-contract") else {
            panic!()
        };
        assert!(!options.contract);
        let Ok(Command::Test(options)) = parse("test --no-lint -- health --nocapture") else {
            panic!()
        };
        assert!(!options.lint);
        assert_eq!(options.runner_args, ["health", "--nocapture"]);
        assert_refused(&[
            ("test health", "UnexpectedArgument"),
            ("test --lint", "UnknownFlag"),
        ]);
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
        assert_refused(&[("frontend build --fast", "UnknownFlag")]);
    }

    #[test]
    fn frontend_configure() {
        assert_eq!(
            parse("frontend configure --api-base-url https://api.faro.dev --environment staging"),
            Ok(Command::FrontendConfigure(frontend::Configure {
                api_base_url: "https://api.faro.dev".into(),
                environment: "staging".into(),
            }))
        );
        assert_eq!(
            parse("frontend configure --api-base-url= --environment=dev"),
            Ok(Command::FrontendConfigure(frontend::Configure {
                api_base_url: String::new(),
                environment: "dev".into(),
            }))
        );
        assert_refused(&[
            ("frontend configure --environment staging", "MissingValue"),
            (
                "frontend configure --api-base-url x --release",
                "UnknownFlag",
            ),
            ("frontend build --api-base-url x", "UnknownFlag"),
        ]);
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
        assert_refused(&[
            ("bench --duration 0", "BadValue"),
            ("bench --duration ten", "BadValue"),
            ("bench --connections 0", "BadValue"),
            ("bench --connections 5000", "BadValue"),
            ("bench --scenario --duration 3", "MissingValue"),
        ]);
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
