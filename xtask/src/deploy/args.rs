//! Flags of the release commands, checked here so that a typo fails before anything compiles;
//! `faro-deploy` gets them back in one canonical form.

use super::Forward;
use crate::{ArgError, Flags};

/// What a flag is.
#[derive(Clone, Copy)]
enum Kind {
    Switch,
    Value,
    Seconds,
}

fn flags_of(command: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    const DEPLOY: &[(&str, Kind)] = &[
        ("--env", Value),
        ("--plan", Switch),
        ("--yes", Switch),
        ("--allow-dirty", Switch),
        ("--image-dir", Value),
        ("--frontend-dir", Value),
        ("--infra-dir", Value),
        ("--rollout-timeout", Seconds),
        ("--max-failed-tasks", Seconds),
        ("--stack-timeout", Seconds),
        ("--migration-timeout", Seconds),
        ("--smoke-timeout", Seconds),
    ];
    match command {
        "deploy" => DEPLOY,
        "status" => &[("--env", Value), ("--infra-dir", Value)],
        "logs" => &[
            ("--env", Value),
            ("--infra-dir", Value),
            ("--follow", Switch),
            ("--since", Value),
            ("--filter", Value),
        ],
        "rollback" => &[
            ("--env", Value),
            ("--to", Value),
            ("--infra-dir", Value),
            ("--rollout-timeout", Seconds),
            ("--max-failed-tasks", Seconds),
        ],
        "destroy" => &[
            ("--env", Value),
            ("--infra-dir", Value),
            ("--include-data", Switch),
            ("--confirm", Value),
        ],
        "image build" => &[
            ("--target", Value),
            ("--output", Value),
            ("--binary", Value),
        ],
        "image push" => &[
            ("--registry", Value),
            ("--image-dir", Value),
            ("--tag", Value),
            ("--region", Value),
        ],
        _ => &[],
    }
}

const COMMANDS: &[(&str, &[&str])] = &[
    ("deploy", &["deploy"]),
    ("status", &["status"]),
    ("logs", &["logs"]),
    ("rollback", &["rollback"]),
    ("destroy", &["destroy"]),
    ("image build", &["image", "build"]),
    ("image push", &["image", "push"]),
];

/// Parses `cargo xtask <command> …` for the release commands (`command` is `deploy`, …, or
/// `image`, whose sub-command is the first of `rest`).
pub fn parse(command: &str, rest: &[String]) -> Result<Forward, ArgError> {
    let (name, rest): (String, &[String]) = if command == "image" {
        match rest.split_first() {
            Some((sub, rest)) if sub == "build" || sub == "push" => (format!("image {sub}"), rest),
            Some((other, _)) => {
                return Err(ArgError::UnexpectedArgument {
                    command: "image",
                    arg: other.clone(),
                });
            }
            None => {
                return Err(ArgError::MissingValue {
                    flag: "image build|push".into(),
                });
            }
        }
    } else {
        (command.to_string(), rest)
    };
    let (label, words) = COMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .ok_or_else(|| ArgError::UnknownCommand(name.clone()))?;
    let known = flags_of(label);
    let mut flags = Flags::new(label, rest);
    let mut args = Vec::new();
    while let Some((flag, inline)) = flags.next_flag()? {
        let Some((_, kind)) = known.iter().find(|(n, _)| *n == flag) else {
            return Err(flags.unknown(flag));
        };
        match kind {
            Kind::Switch => args.push(flag.to_string()),
            Kind::Value => {
                let value = flags.value(flag, inline)?;
                args.extend([flag.to_string(), value.to_string()]);
            }
            Kind::Seconds => {
                let value = flags.value(flag, inline)?;
                let n: u64 = crate::parse_number(flag, value, "a whole number, at least 1", 1)?;
                args.extend([flag.to_string(), n.to_string()]);
            }
        }
    }
    let needs_env = !label.starts_with("image");
    if needs_env && !args.iter().any(|a| a == "--env") {
        return Err(ArgError::MissingValue {
            flag: "--env".into(),
        });
    }
    if label == "image push" && !args.iter().any(|a| a == "--registry") {
        return Err(ArgError::MissingValue {
            flag: "--registry".into(),
        });
    }
    Ok(Forward {
        words: words.to_vec(),
        args,
    })
}
