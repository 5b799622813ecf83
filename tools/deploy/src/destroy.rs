//! `cargo xtask destroy --env NAME`: deletes the environment's stacks in reverse order after the
//! environment's name is typed. Stacks that hold data are kept unless `--include-data`; when
//! they go, the templates' deletion policies keep a final RDS snapshot and retain the DynamoDB
//! table, the ECR repository and the log group.

use std::io::BufRead;

use faro_infra_model::Environment;

use crate::aws::Aws;
use crate::{Error, cfn};

#[derive(Debug, Clone)]
pub struct Options {
    pub include_data: bool,
    /// The typed confirmation (`--confirm NAME` for scripts), else read from stdin.
    pub confirm: Option<String>,
    pub stack_timeout: std::time::Duration,
}

pub async fn run(env: &Environment, options: &Options) -> Result<Vec<String>, Error> {
    let aws = Aws::connect(&env.file.region).await;
    let identity = crate::preflight::identity(&aws).await?;
    let mut doomed = Vec::new();
    let mut kept = Vec::new();
    for stack in env.manifest.stacks.iter().rev() {
        let name = env.stack_name(&stack.name);
        if cfn::describe_stack(&aws, &name).await?.is_none() {
            continue;
        }
        if stack.stateful && !options.include_data {
            kept.push(name);
        } else {
            doomed.push((name, stack.stateful));
        }
    }
    println!(
        "environment {} — account {}, {}",
        env.name, identity.account, env.file.region
    );
    if doomed.is_empty() {
        println!("nothing to delete");
        return Ok(Vec::new());
    }
    println!("will delete, in this order:");
    for (name, stateful) in &doomed {
        let note = if *stateful {
            "  (data: RDS takes a final snapshot; the table, repository and log group are retained)"
        } else {
            ""
        };
        println!("  {name}{note}");
    }
    for name in &kept {
        println!("  keeping {name} (holds data; --include-data deletes it too)");
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
    let mut deleted = Vec::new();
    for (name, _) in doomed {
        println!("deleting {name}…");
        let marker = cfn::seen_events(&aws, &name).await;
        cfn::delete(&aws, &name).await?;
        cfn::watch(&aws, &name, marker, 1, options.stack_timeout, async || {
            Ok(())
        })
        .await?;
        deleted.push(name);
    }
    println!("deleted {} stacks", deleted.len());
    Ok(deleted)
}
