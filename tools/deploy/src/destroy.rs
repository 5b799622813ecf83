//! `cargo xtask destroy --env NAME [--include-data] [--stack NAME]`: deletes the environment's
//! stacks, every importer before the stack it imports from, after the environment's name is
//! typed. Without `--include-data` the stacks that hold data stay, with every stack they import
//! from (CloudFormation refuses to delete an export in use: the network stays with the data
//! stack). `--stack` deletes one stack only (a stack whose creation failed, for example). At
//! the end the resources that outlive their stack (deletion policies `Retain` and `Snapshot`)
//! are listed, each with what to do about it.

use std::collections::BTreeMap;
use std::io::BufRead;

use faro_infra_model::Environment;
use faro_infra_model::teardown::{self, Doomed, Kept};
use faro_infra_model::template::Retained;

use crate::aws::Aws;
use crate::{Error, cfn};

#[derive(Debug, Clone)]
pub struct Options {
    pub include_data: bool,
    /// Delete this stack (its short name, e.g. `service`) and nothing else.
    pub only: Option<String>,
    /// The typed confirmation (`--confirm NAME` for scripts), else read from stdin.
    pub confirm: Option<String>,
    pub stack_timeout: std::time::Duration,
}

/// A resource left behind by a deleted stack.
#[derive(Debug, Clone)]
pub struct Left {
    pub stack: String,
    pub resource: Retained,
    /// Its physical id (name or ARN) before the stack went, when CloudFormation said.
    pub physical_id: Option<String>,
}

/// What the deletion did: the stacks deleted and what they left behind.
#[derive(Debug, Default)]
pub struct Outcome {
    pub deleted: Vec<String>,
    pub left: Vec<Left>,
}

/// The teardown narrowed to `--stack`, which refuses a data stack without `--include-data`.
fn narrowed(
    env: &Environment,
    mut plan: teardown::Teardown,
    options: &Options,
) -> Result<teardown::Teardown, Error> {
    let Some(only) = &options.only else {
        return Ok(plan);
    };
    if env.stack(only).is_none() {
        return Err(Error::Other(format!(
            "{only} is not a stack of {} (stacks: {})",
            env.name,
            env.manifest
                .stacks
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some((_, why)) = plan.keep.iter().find(|(name, _)| name == only) {
        return Err(Error::Other(format!(
            "{only} {}: add --include-data to delete it",
            describe_kept(why)
        )));
    }
    plan.delete.retain(|d| &d.stack == only);
    plan.keep.clear();
    Ok(plan)
}

fn describe_kept(why: &Kept) -> String {
    match why {
        Kept::HoldsData => "holds data".into(),
        Kept::NeededBy(by) => format!("exports what {} imports", by.join(", ")),
    }
}

pub async fn run(env: &Environment, options: &Options) -> Result<Outcome, Error> {
    let plan = narrowed(env, teardown::plan(env, options.include_data)?, options)?;
    let aws = Aws::connect(&env.file.region).await;
    let identity = crate::preflight::identity(&aws).await?;
    let mut doomed: Vec<(String, Doomed)> = Vec::new();
    for stack in plan.delete {
        let name = env.stack_name(&stack.stack);
        if cfn::describe_stack(&aws, &name).await?.is_some() {
            doomed.push((name, stack));
        }
    }
    let mut kept = Vec::new();
    for (stack, why) in &plan.keep {
        let name = env.stack_name(stack);
        if cfn::describe_stack(&aws, &name).await?.is_some() {
            kept.push((name, why));
        }
    }
    println!(
        "environment {} — account {}, {}",
        env.name, identity.account, env.file.region
    );
    if doomed.is_empty() {
        println!("nothing to delete");
        return Ok(Outcome::default());
    }
    println!("will delete, in this order:");
    for (name, stack) in &doomed {
        let note = if stack.retained.is_empty() {
            String::new()
        } else {
            format!(
                "  (keeps {})",
                stack
                    .retained
                    .iter()
                    .map(|r| format!("{} [{}]", r.logical_id, r.policy))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        println!("  {name}{note}");
    }
    for (name, why) in &kept {
        let next = match why {
            Kept::HoldsData => "--include-data deletes it too",
            Kept::NeededBy(_) => "it goes with them under --include-data",
        };
        println!("  keeping {name} ({}; {next})", describe_kept(why));
    }
    let typed = match &options.confirm {
        Some(text) => text.clone(),
        None => {
            println!("type the environment's name ({}) to confirm:", env.name);
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::Other(e.to_string()))?;
            line.trim().to_string()
        }
    };
    if typed != env.name {
        return Err(Error::NotConfirmed(env.name.clone()));
    }
    let mut outcome = Outcome::default();
    for (name, stack) in doomed {
        // The physical ids are gone with the stack: read them first.
        let physical = if stack.retained.is_empty() {
            BTreeMap::new()
        } else {
            cfn::physical_ids(&aws, &name).await.unwrap_or_default()
        };
        println!("deleting {name}…");
        let marker = cfn::seen_events(&aws, &name).await;
        cfn::delete(&aws, &name).await?;
        cfn::watch(&aws, &name, marker, 1, options.stack_timeout, async || {
            Ok(())
        })
        .await?;
        outcome
            .left
            .extend(stack.retained.into_iter().map(|resource| Left {
                stack: name.clone(),
                physical_id: physical.get(&resource.logical_id).cloned(),
                resource,
            }));
        outcome.deleted.push(name);
    }
    println!("deleted {} stacks", outcome.deleted.len());
    if !outcome.left.is_empty() {
        println!("\nretained after deletion (billed until you remove them):");
        for left in &outcome.left {
            println!(
                "  {} {} ({}, DeletionPolicy {}, from {}): {}",
                left.resource.resource_type.trim_start_matches("AWS::"),
                left.physical_id
                    .as_deref()
                    .unwrap_or(&left.resource.logical_id),
                left.resource.logical_id,
                left.resource.policy,
                left.stack,
                what_to_do(&left.resource)
            );
        }
    }
    if !kept.is_empty() {
        println!(
            "\nkept stacks: {}. Delete them with `cargo xtask destroy --env {} --include-data`.",
            kept.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            env.name
        );
    }
    Ok(outcome)
}

/// The next step for a resource its stack left behind.
fn what_to_do(resource: &Retained) -> &'static str {
    match (resource.resource_type.as_str(), resource.policy.as_str()) {
        ("AWS::RDS::DBInstance" | "AWS::RDS::DBCluster", "Snapshot") => {
            "a final snapshot was taken (RDS console → Snapshots, named after the instance): \
             restore from it, or delete it once the data is no longer needed"
        }
        ("AWS::DynamoDB::Table", _) => {
            "the table and its data stay: export or keep it, then delete it in the DynamoDB \
             console; a new deploy of the data stack cannot create a table of the same name \
             while it exists"
        }
        ("AWS::ECR::Repository", _) => {
            "the repository and its images stay: delete it (with its images) in the ECR console; \
             a new deploy of the registry stack needs the name free"
        }
        ("AWS::Logs::LogGroup", _) => {
            "the log events stay until their retention runs out: delete the group in the \
             CloudWatch console when no longer needed (a new deploy needs the name free)"
        }
        ("AWS::KMS::Key", _) => {
            "the key stays (billed monthly): schedule its deletion (7–30 days) once nothing it \
             encrypted is needed"
        }
        ("AWS::S3::Bucket", _) => {
            "the bucket and its objects stay: empty it and delete it in the S3 console"
        }
        ("AWS::SecretsManager::Secret", _) => {
            "the secret stays: delete it in the Secrets Manager console once nothing needs it"
        }
        _ => "it stays: delete it by hand once it is no longer needed",
    }
}
