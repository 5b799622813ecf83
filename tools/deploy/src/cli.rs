//! The command line of the release commands: `faro-deploy <command> [flags]`, which
//! `cargo xtask image|deploy|status|logs|rollback|destroy` forwards unchanged. One table of
//! commands and their flags gives both the parser and the help.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Hint;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Present or not: `--plan`.
    Switch,
    /// A value: `--tag TAG`.
    Value,
    /// A value that must be given: `--env NAME ... (required)`.
    Required,
    /// A whole number, at least 1 (seconds, a count): `--stack-timeout N`.
    Number,
}

/// A flag as its line of the help describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag<'a> {
    pub name: &'a str,
    pub kind: Kind,
}

impl<'a> Flag<'a> {
    /// Reads `--name [VALUE]  what it does [(required)]`: no value is a switch, `N` a number.
    fn of_line(line: &'a str) -> Self {
        let (usage, help) = line.trim().split_once("  ").unwrap_or((line.trim(), ""));
        let mut words = usage.split_whitespace();
        let name = words.next().unwrap_or_default();
        let kind = match words.next() {
            None => Kind::Switch,
            Some("N") => Kind::Number,
            Some(_) if help.trim_end().ends_with("(required)") => Kind::Required,
            Some(_) => Kind::Value,
        };
        Self { name, kind }
    }
}

/// The release commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    ImageBuild,
    ImagePush,
    Deploy,
    Status,
    Logs,
    Rollback,
    Destroy,
}

/// One release command. Its flags are the lines of its help, so that the two always agree.
#[derive(Debug)]
pub struct Spec {
    pub command: Command,
    /// `["deploy"]`, `["image", "build"]`, …
    pub words: &'static [&'static str],
    pub summary: &'static str,
    /// One flag a line, as [`Flag::of_line`] reads it.
    pub flags: &'static str,
}

impl Spec {
    pub fn flags(&self) -> impl Iterator<Item = Flag<'static>> {
        self.flags
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(Flag::of_line)
    }
}

/// Every release command, in the order of the help.
pub const COMMANDS: &[Spec] = &[
    Spec {
        command: Command::ImageBuild,
        words: &["image", "build"],
        summary: "the backend's OCI image without Docker (static musl binary, reproducible)",
        flags: "
  --target TRIPLE        x86_64-unknown-linux-musl (default) or aarch64-unknown-linux-musl
  --output DIR           where the image layout goes (default target/faro-image/<arch>)
  --binary FILE          package this backend binary instead of building one
",
    },
    Spec {
        command: Command::ImagePush,
        words: &["image", "push"],
        summary: "push the image over the OCI distribution API (ECR auth via GetAuthorizationToken; \
                  FARO_REGISTRY_USER/FARO_REGISTRY_PASSWORD for others); layers it has are skipped",
        flags: "
  --registry HOST/REPO   e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/faro-staging/backend (required)
  --image-dir DIR        the image layout (default target/faro-image/<arch>)
  --tag TAG              default: the git SHA and the image's digest
  --region REGION        ECR's region (default: the one in the registry's host name)
",
    },
    Spec {
        command: Command::Deploy,
        words: &["deploy"],
        summary: "image, stacks, migrations, service, frontend and a smoke test, in that order",
        flags: "
  --env NAME             the environment, infra/env/NAME.json (required)
  --plan                 stop after printing every stack's diff; change nothing
  --yes                  allow replacing or removing resources that hold data
  --allow-dirty          deploy uncommitted changes (tagged <sha>-dirty-<digest>)
  --infra-dir DIR        the stacks and environments (default: the checkout's infra/)
  --image-dir DIR        ship this built image layout instead of building one
  --frontend-dir DIR     ship this built frontend (dist/) instead of building one
  --rollout-timeout N    seconds before giving up on the service's rollout (default 900)
  --max-failed-tasks N   failed tasks before giving up on the rollout (default 3)
  --stack-timeout N      seconds a stack may take to update or delete (default 3600)
  --migration-timeout N  seconds the migration task may take (default 900)
  --smoke-timeout N      seconds the smoke test may take to pass (default 60)
  --domain-timeout N     seconds the smoke test waits for the app's domain (default 1200)
",
    },
    Spec {
        command: Command::Status,
        words: &["status"],
        summary: "stacks, service deployments and tasks, the running image, alarms in ALARM",
        flags: "
  --env NAME             the environment, infra/env/NAME.json (required)
  --infra-dir DIR        the stacks and environments (default: the checkout's infra/)
",
    },
    Spec {
        command: Command::Logs,
        words: &["logs"],
        summary: "the backend's CloudWatch logs",
        flags: "
  --env NAME             the environment, infra/env/NAME.json (required)
  --infra-dir DIR        the stacks and environments (default: the checkout's infra/)
  --follow               keep printing new events
  --since AGE            how far back, e.g. 15m, 2h, 1d (default 10m)
  --filter PATTERN       a CloudWatch Logs filter pattern
",
    },
    Spec {
        command: Command::Rollback,
        words: &["rollback"],
        summary: "the service back to the previous image, or to --to",
        flags: "
  --env NAME             the environment, infra/env/NAME.json (required)
  --to SHA               an image tag (or its start) in the repository
  --infra-dir DIR        the stacks and environments (default: the checkout's infra/)
  --rollout-timeout N    seconds before giving up on the service's rollout (default 900)
  --max-failed-tasks N   failed tasks before giving up on the rollout (default 3)
  --stack-timeout N      seconds the service stack may take to update (default 3600)
",
    },
    Spec {
        command: Command::Destroy,
        words: &["destroy"],
        summary: "delete the environment's stacks after you type its name (data stacks and the \
                  network they need only with --include-data); lists what is retained",
        flags: "
  --env NAME             the environment, infra/env/NAME.json (required)
  --infra-dir DIR        the stacks and environments (default: the checkout's infra/)
  --include-data         delete the stacks that hold data too (and the stacks they import from)
  --stack NAME           delete this one stack only, e.g. one whose creation failed
  --confirm NAME         the environment's name, instead of typing it
  --stack-timeout N      seconds a stack may take to delete (default 3600)
",
    },
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    #[error("unexpected `{arg}` for `{command}`")]
    Unexpected { command: String, arg: String },
    #[error("`{flag}` needs a value; `{command}` requires it")]
    Missing { command: String, flag: String },
    #[error("`{flag}` expects a whole number, at least 1, got `{value}`")]
    BadNumber { flag: String, value: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::UnknownCommand(_) => "the release commands are image build, image push, deploy, \
                 status, logs, rollback and destroy: `cargo xtask deploy --help`"
                .into(),
            Self::Missing { flag, .. } if flag == "--env" => {
                "for example `cargo xtask deploy --env staging`".into()
            }
            Self::Missing { flag, .. } if flag == "--registry" => {
                "for example `cargo xtask image push --registry 127.0.0.1:5000/faro/backend`".into()
            }
            Self::Unexpected { command, .. } | Self::Missing { command, .. } => {
                format!("see its flags: `cargo xtask {command} --help`")
            }
            Self::BadNumber { flag, .. } => format!("for example `{flag} 600`"),
        })
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Print this and stop.
    Help(String),
    Run(Invocation),
}

/// A release command with its checked flags.
#[derive(Debug, PartialEq, Eq)]
pub struct Invocation {
    pub spec: &'static Spec,
    flags: Vec<(&'static str, Option<String>)>,
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        self.command == other.command
    }
}

impl Eq for Spec {}

impl Invocation {
    /// The value of `flag` (the last one given).
    pub fn get(&self, flag: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| *n == flag)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of a [`Kind::Required`] flag.
    pub fn required(&self, flag: &str) -> &str {
        self.get(flag)
            .expect("the parser checked the required flags")
    }

    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(n, _)| *n == flag)
    }

    /// A `Kind::Number` flag, or `default`.
    pub fn number(&self, flag: &str, default: u64) -> u64 {
        self.get(flag)
            .map(|v| v.parse().expect("the parser checked the numbers"))
            .unwrap_or(default)
    }

    /// A `Kind::Number` flag in seconds, or `default` seconds.
    pub fn secs(&self, flag: &str, default: u64) -> Duration {
        Duration::from_secs(self.number(flag, default))
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Parsed, Error> {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with('-'))
        .collect();
    // `-h` or `--help` anywhere asks for help, whatever else is there.
    let asks_help = args.iter().any(|a| a == "-h" || a == "--help");
    let matching: Vec<&'static Spec> = COMMANDS
        .iter()
        .filter(|s| words.starts_with(s.words) || s.words.starts_with(&words[..]))
        .collect();
    if words.is_empty() || words == ["help"] {
        return if asks_help || !words.is_empty() {
            Ok(Parsed::Help(overview()))
        } else {
            Err(Error::UnknownCommand(String::new()))
        };
    }
    let Some(spec) = matching
        .iter()
        .copied()
        .find(|s| words.starts_with(s.words))
    else {
        // `image --help`: the help of both image commands.
        if asks_help && !matching.is_empty() {
            return Ok(Parsed::Help(
                matching
                    .iter()
                    .map(|s| help(s))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
        return Err(Error::UnknownCommand(words.join(" ")));
    };
    if asks_help {
        return Ok(Parsed::Help(help(spec)));
    }
    let command = spec.words.join(" ");
    let mut flags = Vec::new();
    let mut rest = args[spec.words.len()..].iter();
    while let Some(arg) = rest.next() {
        let Some((name, inline)) = arg.starts_with("--").then(|| match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        }) else {
            return Err(Error::Unexpected {
                command,
                arg: arg.clone(),
            });
        };
        let Some(known) = spec.flags().find(|f| f.name == name) else {
            return Err(Error::Unexpected {
                command,
                arg: name.to_string(),
            });
        };
        let value = match known.kind {
            Kind::Switch => None,
            Kind::Value | Kind::Required | Kind::Number => {
                let value = match inline {
                    Some(value) => value,
                    None => match rest.next() {
                        Some(value) if !value.starts_with("--") => value,
                        _ => {
                            return Err(Error::Missing {
                                command,
                                flag: name.to_string(),
                            });
                        }
                    },
                };
                if known.kind == Kind::Number && !value.parse::<u64>().is_ok_and(|n| n >= 1) {
                    return Err(Error::BadNumber {
                        flag: name.to_string(),
                        value: value.to_string(),
                    });
                }
                Some(value.to_string())
            }
        };
        flags.push((known.name, value));
    }
    if let Some(missing) = spec
        .flags()
        .find(|f| f.kind == Kind::Required && !flags.iter().any(|(n, _)| *n == f.name))
    {
        return Err(Error::Missing {
            command,
            flag: missing.name.to_string(),
        });
    }
    Ok(Parsed::Run(Invocation { spec, flags }))
}

/// `cargo xtask <command> --help`: what it does and its flags.
pub fn help(spec: &Spec) -> String {
    format!(
        "cargo xtask {}: {}\n\nflags:{}",
        spec.words.join(" "),
        spec.summary,
        spec.flags
    )
}

/// The list of commands.
pub fn overview() -> String {
    let mut out = String::from(
        "usage: cargo xtask <command> [flags]   (or faro-deploy <command> [flags])\n\nrelease commands:\n",
    );
    for spec in COMMANDS {
        let _ = writeln!(out, "  {:<12} {}", spec.words.join(" "), spec.summary);
    }
    out += "\n`cargo xtask <command> --help` lists a command's flags.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Parsed, Error> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn run(line: &str) -> Invocation {
        match parse_line(line) {
            Ok(Parsed::Run(invocation)) => invocation,
            other => panic!("`{line}`: {other:?}"),
        }
    }

    #[test]
    fn commands_and_their_flags() {
        let deploy = run("deploy --env staging --plan --rollout-timeout=600");
        assert_eq!(deploy.spec.command, Command::Deploy);
        assert_eq!(deploy.required("--env"), "staging");
        assert!(deploy.has("--plan") && !deploy.has("--yes"));
        assert_eq!(
            deploy.secs("--rollout-timeout", 900),
            Duration::from_secs(600)
        );
        assert_eq!(
            deploy.secs("--stack-timeout", 3600),
            Duration::from_secs(3600)
        );
        let push = run("image push --registry 127.0.0.1:5000/faro/backend");
        assert_eq!(push.spec.command, Command::ImagePush);
        let logs = run("logs --env production --follow --since 15m");
        assert_eq!(logs.get("--since"), Some("15m"));
        assert!(logs.has("--follow"));
        assert_eq!(run("image build").spec.command, Command::ImageBuild);
        assert_eq!(
            run("rollback --env s --to abc123").get("--to"),
            Some("abc123")
        );
        assert_eq!(
            run("destroy --env s --confirm s --stack-timeout 60").number("--stack-timeout", 1),
            60
        );
    }

    #[test]
    fn mistakes_are_named_with_a_hint() {
        for (line, message, hint) in [
            (
                "deploy --plan",
                "`--env` needs a value",
                "xtask deploy --env staging",
            ),
            (
                "deploy --env",
                "`--env` needs a value",
                "xtask deploy --env staging",
            ),
            (
                "image push",
                "`--registry` needs",
                "--registry 127.0.0.1:5000",
            ),
            (
                "status --env x --plan",
                "unexpected `--plan`",
                "xtask status --help",
            ),
            (
                "logs --env x --since --follow",
                "`--since` needs",
                "xtask logs --help",
            ),
            (
                "deploy --env x staging",
                "unexpected `staging`",
                "xtask deploy --help",
            ),
            (
                "deploy --env x --rollout-timeout soon",
                "got `soon`",
                "--rollout-timeout 600",
            ),
            (
                "deploy --env x --max-failed-tasks 0",
                "at least 1",
                "--max-failed-tasks 600",
            ),
            ("image pull", "unknown command `image pull`", "image push"),
            (
                "image",
                "unknown command `image`",
                "cargo xtask deploy --help",
            ),
            ("", "unknown command", "cargo xtask deploy --help"),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.to_string().contains(message), "{line}: {err}");
            assert!(
                err.hint().unwrap().contains(hint),
                "{line}: {:?}",
                err.hint()
            );
        }
    }

    #[test]
    fn flag_lines_say_what_each_flag_takes() {
        let kinds: Vec<Kind> = COMMANDS[2].flags().map(|f| f.kind).collect();
        assert_eq!(COMMANDS[2].command, Command::Deploy);
        assert_eq!(kinds[..3], [Kind::Required, Kind::Switch, Kind::Switch]);
        assert_eq!(kinds[4], Kind::Value);
        assert_eq!(kinds[7], Kind::Number);
        for spec in COMMANDS {
            let names: Vec<&str> = spec.flags().map(|f| f.name).collect();
            assert!(names.iter().all(|n| n.starts_with("--")), "{names:?}");
            let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{names:?}");
        }
    }

    #[test]
    fn help_of_a_command_lists_its_flags() {
        let Ok(Parsed::Help(text)) = parse_line("deploy --env staging --help") else {
            panic!()
        };
        assert!(text.starts_with("cargo xtask deploy:"), "{text}");
        assert!(
            text.contains("--env NAME") && text.contains("(required)"),
            "{text}"
        );
        assert!(text.contains("--rollout-timeout N"), "{text}");
        assert!(!text.contains("--include-data"), "{text}");
        let Ok(Parsed::Help(text)) = parse_line("image -h") else {
            panic!()
        };
        assert!(
            text.contains("image build") && text.contains("image push"),
            "{text}"
        );
        let Ok(Parsed::Help(text)) = parse_line("--help") else {
            panic!()
        };
        for spec in COMMANDS {
            assert!(text.contains(&spec.words.join(" ")), "{text}");
        }
    }
}
