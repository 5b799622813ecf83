//! `cargo xtask rollback --env NAME [--to SHA]`: the service back on an earlier image, through
//! the service stack (so CloudFormation keeps describing what runs), with the same ECS watch as
//! a deploy.

use aws_sdk_ecs::types::TaskDefinitionStatus;
use faro_infra_model::Environment;
use faro_infra_model::manifest::{IMAGE_TAG, REGISTRY_STACK, SERVICE_STACK};

use crate::aws::{Aws, describe};
use crate::cfn;
use crate::deploy::{self, Options};
use crate::ecs;
use crate::{Error, registry};

/// The images the service ran, newest first (from its task definition revisions).
pub async fn history(aws: &Aws, env: &Environment) -> Result<Vec<(String, String)>, Error> {
    let family = format!("faro-{}-backend", env.name);
    let mut arns = Vec::new();
    for status in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
        let mut token = None;
        loop {
            let out = aws
                .ecs
                .list_task_definitions()
                .family_prefix(&family)
                .status(status.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| ecs::Error::Call {
                    call: "ListTaskDefinitions",
                    detail: describe(&e),
                })?;
            arns.extend(out.task_definition_arns().iter().cloned());
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    // family:revision, exactly this family (the prefix also matches `…-migrate`).
    let mut revisions: Vec<(u32, String)> = arns
        .into_iter()
        .filter_map(|arn| {
            let (fam, rev) = ecs::arn_tail(&arn).rsplit_once(':')?;
            (fam == family).then(|| Some((rev.parse().ok()?, arn.clone())))?
        })
        .collect();
    revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
    revisions.dedup();
    let mut images = Vec::new();
    for (_, arn) in revisions.iter().take(30) {
        if let Some(image) = ecs::image_of(aws, arn, "backend").await? {
            let tag = image
                .rsplit_once(':')
                .map(|(_, t)| t.to_string())
                .unwrap_or_default();
            images.push((tag, arn.clone()));
        }
    }
    Ok(images)
}

/// Picks the image to return to: `to` (a SHA or its start), else the one before the current.
pub fn choose(history: &[(String, String)], current: &str, to: Option<&str>) -> Option<String> {
    match to {
        Some(want) => history
            .iter()
            .map(|(t, _)| t)
            .find(|t| t.starts_with(want))
            .cloned(),
        None => history
            .iter()
            .map(|(t, _)| t)
            .find(|t| *t != current)
            .cloned(),
    }
}

/// Puts the service on `tag` (which must be in the repository).
pub async fn to_tag(
    aws: &Aws,
    env: &Environment,
    tag: &str,
    options: &Options,
) -> Result<(), Error> {
    let stack = env.stack_name(SERVICE_STACK);
    let current = cfn::describe_stack(aws, &stack)
        .await?
        .ok_or(Error::NotDeployed(env.name.clone()))?;
    if let Some(registry) = cfn::describe_stack(aws, &env.stack_name(REGISTRY_STACK)).await?
        && let Some(uri) = registry.outputs.get("RepositoryUri")
    {
        let mut reference = registry::Reference::parse(uri)?;
        if let Some(base) = deploy::registry_override() {
            reference.base = base;
        }
        let credentials = registry::ecr::credentials(aws).await?;
        let mut client = registry::Client::new(reference, credentials);
        if client.manifest(tag).await.is_err() {
            return Err(Error::UnknownImage(tag.to_string()));
        }
    }
    deploy::apply_service_parameters(
        aws,
        env,
        &current.parameters,
        tag,
        Some(&current),
        options,
        true,
    )
    .await
}

pub async fn run(options: &Options, to: Option<&str>) -> Result<String, Error> {
    let env = Environment::load(&options.infra_dir, &options.env)?;
    let aws = Aws::connect(&env.file.region).await;
    let stack = env.stack_name(SERVICE_STACK);
    let current = cfn::describe_stack(&aws, &stack)
        .await?
        .ok_or(Error::NotDeployed(env.name.clone()))?;
    let running = current
        .parameters
        .get(IMAGE_TAG)
        .cloned()
        .unwrap_or_default();
    let history = history(&aws, &env).await?;
    // A tag that never ran is fine too, once the registry confirms it (`to_tag` checks).
    let Some(target) = choose(&history, &running, to).or_else(|| to.map(str::to_owned)) else {
        let mut known: Vec<&str> = Vec::new();
        for (tag, _) in &history {
            if !known.contains(&tag.as_str()) && known.len() < 10 {
                known.push(tag);
            }
        }
        return Err(Error::NoEarlierImage {
            to: to.map(str::to_owned),
            known: known.join(", "),
        });
    };
    if target == running {
        println!("{stack} already runs {target}");
        return Ok(target);
    }
    println!("rolling {} back from {running} to {target}", env.name);
    to_tag(&aws, &env, &target, options).await?;
    println!("{} now runs {target}", env.name);
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_previous_distinct_image() {
        let h: Vec<(String, String)> = ["c", "c", "b", "a"]
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("{t}{}", "0".repeat(39)), format!("arn:{i}")))
            .collect();
        let current = format!("c{}", "0".repeat(39));
        assert_eq!(
            choose(&h, &current, None),
            Some(format!("b{}", "0".repeat(39)))
        );
        assert_eq!(
            choose(&h, &current, Some("a0")),
            Some(format!("a{}", "0".repeat(39)))
        );
        assert_eq!(choose(&h, &current, Some("f")), None);
        assert_eq!(choose(&h[..2], &current, None), None);
    }
}
