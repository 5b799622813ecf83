//! Step 1 of a deploy: who and where (account, region), a clean tree, a complete parameters
//! file, and the secrets the service reads.

use std::collections::BTreeMap;

use faro_infra_model::{Environment, is_placeholder};

use crate::Hint;
use crate::aws::{Aws, describe, sdk};
use crate::cfn;
use crate::git::Commit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no usable AWS credentials: {0}")]
    Credentials(String),
    #[error("the working tree has uncommitted changes ({})", summarize(.0))]
    Dirty(Vec<String>),
    #[error("infra/env/{env}.json is not complete:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Parameters { env: String, problems: Vec<String> },
    #[error("secret {name} is missing")]
    SecretMissing { name: String },
}

fn summarize(paths: &[String]) -> String {
    let mut shown: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
    if paths.len() > 5 {
        shown.push("…");
    }
    shown.join(", ")
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Credentials(_) => {
                "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), e.g. after `aws sso login`, and rerun".into()
            }
            Self::Dirty(_) => {
                "commit or stash the changes (the image is tagged with the commit), or pass --allow-dirty".into()
            }
            Self::Parameters { env, .. } => format!(
                "edit infra/env/{env}.json (docs/operations.md, \"Before the first deployment\"), then rerun"
            ),
            Self::SecretMissing { name } => format!(
                "the data stack creates it; if it was deleted, redeploy the data stack or create it: \
                 `aws secretsmanager create-secret --name {name} --secret-string \"$KEY\"`"
            ),
        })
    }
}

/// Who runs the deploy.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

pub async fn identity(aws: &Aws) -> Result<Identity, Error> {
    let out = sdk!(aws.sts.get_caller_identity(), Error::Credentials)?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}

pub fn clean_tree(commit: &Commit, allow_dirty: bool) -> Result<(), Error> {
    if commit.is_clean() || allow_dirty {
        Ok(())
    } else {
        Err(Error::Dirty(commit.dirty.clone()))
    }
}

/// Compares the env file with each template's parameters: every parameter without a default
/// has a value, no value is for a parameter the template lacks, no placeholder is left.
pub async fn parameters(aws: &Aws, env: &Environment) -> Result<(), crate::Error> {
    let mut problems = Vec::new();
    for stack in &env.manifest.stacks {
        let body = env.template_body(stack)?;
        let declared = cfn::template_parameters(aws, &env.stack_name(&stack.name), &body).await?;
        let given = env.parameters(&stack.name);
        problems.extend(check(
            &stack.name,
            &declared,
            &given,
            &stack.deploy_parameters,
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Parameters {
            env: env.name.clone(),
            problems,
        }
        .into())
    }
}

fn check(
    stack: &str,
    declared: &BTreeMap<String, Option<String>>,
    given: &BTreeMap<String, String>,
    supplied: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, default) in declared {
        if default.is_none() && !given.contains_key(name) && !supplied.contains(name) {
            problems.push(format!("{stack}: {name} has no value and no default"));
        }
    }
    for (name, value) in given {
        if !declared.contains_key(name) {
            problems.push(format!(
                "{stack}: {name} is not a parameter of the template"
            ));
        } else if is_placeholder(value) {
            problems.push(format!(
                "{stack}: {name} is still the placeholder `{value}`"
            ));
        }
    }
    problems
}

/// The API key secrets of the data stack, by name (`faro/<env>/…`): DeepSeek's only, as each
/// organization keeps its SleakOps key in the app.
pub fn secret_names(env: &str) -> [String; 1] {
    [format!("faro/{env}/deepseek-api-key")]
}

/// Checks the secrets once the data stack exists; returns warnings (placeholders left).
pub async fn secrets(aws: &Aws, env: &Environment) -> Result<Vec<String>, Error> {
    let mut warnings = Vec::new();
    for name in secret_names(&env.name) {
        match aws.secrets.get_secret_value().secret_id(&name).send().await {
            Ok(out) if out.secret_string() == Some("unset") => warnings.push(format!(
                "{name} still holds the placeholder `unset`: store the key (docs/operations.md)"
            )),
            Ok(_) => {}
            Err(e) => {
                let detail = describe(&e);
                if detail.contains("ResourceNotFound") || detail.contains("can't find") {
                    return Err(Error::SecretMissing { name });
                }
                return Err(Error::Credentials(detail));
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_problems_are_named() {
        let declared = BTreeMap::from([
            ("EnvironmentName".to_string(), None),
            ("DomainName".to_string(), None),
            ("ImageTag".to_string(), None),
            ("MinTasks".to_string(), Some("2".to_string())),
        ]);
        let given = BTreeMap::from([
            ("EnvironmentName".to_string(), "staging".to_string()),
            ("HostedZone".to_string(), "Z1".to_string()),
        ]);
        let problems = check("service", &declared, &given, &["ImageTag".to_string()]);
        assert_eq!(
            problems,
            [
                "service: DomainName has no value and no default",
                "service: HostedZone is not a parameter of the template"
            ]
        );
        let given = BTreeMap::from([
            ("EnvironmentName".to_string(), "staging".to_string()),
            (
                "DomainName".to_string(),
                "staging.faro.example.com".to_string(),
            ),
        ]);
        let problems = check("service", &declared, &given, &["ImageTag".to_string()]);
        assert_eq!(
            problems,
            ["service: DomainName is still the placeholder `staging.faro.example.com`"]
        );
    }
}
