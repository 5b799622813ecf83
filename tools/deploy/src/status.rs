//! `cargo xtask status --env NAME`: the stacks, the service's deployments and task counts, the
//! image that runs, and the alarms that are firing.

use aws_sdk_cloudwatch::types::StateValue;
use faro_infra_model::Environment;
use faro_infra_model::manifest::{IMAGE_TAG, SERVICE_STACK};

use crate::aws::{Aws, describe};
use crate::{Error, cfn, ecs};

pub async fn run(env: &Environment) -> Result<(), Error> {
    let aws = Aws::connect(&env.file.region).await;
    let identity = crate::preflight::identity(&aws).await?;
    println!(
        "environment {} — account {}, {}",
        env.name, identity.account, env.file.region
    );
    println!("\nstacks:");
    let mut service_tag = None;
    for stack in &env.manifest.stacks {
        let name = env.stack_name(&stack.name);
        match cfn::describe_stack(&aws, &name).await? {
            Some(info) => {
                println!(
                    "  {name:<32} {:<24} {}",
                    info.status,
                    info.last_updated.as_deref().unwrap_or("")
                );
                if stack.name == SERVICE_STACK {
                    service_tag = info.parameters.get(IMAGE_TAG).cloned();
                }
            }
            None => println!("  {name:<32} not deployed"),
        }
    }
    let exports = cfn::exports(&aws).await?;
    let export = |suffix: &str| exports.get(&env.export(suffix)).cloned();
    if let (Some(cluster), Some(service)) = (export("cluster-name"), export("service-name")) {
        println!("\nservice {service} in {cluster}:");
        match ecs::service_state(&aws, &cluster, &service).await? {
            Some(state) => {
                println!(
                    "  tasks: {} running of {} desired, {} pending",
                    state.running, state.desired, state.pending
                );
                if let Some(image) = ecs::image_of(&aws, &state.task_definition, "backend").await? {
                    println!("  image: {image}");
                }
                for d in &state.deployments {
                    println!("  deployment {d}");
                }
            }
            None => println!("  not found"),
        }
    }
    if let Some(tag) = service_tag {
        println!("  stack ImageTag: {tag}");
    }
    match aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("faro-{}-", env.name))
        .state_value(StateValue::Alarm)
        .send()
        .await
    {
        Ok(alarms) => {
            let firing = alarms.metric_alarms();
            println!("\nalarms in ALARM: {}", firing.len());
            for alarm in firing {
                println!(
                    "  {} — {}",
                    alarm.alarm_name().unwrap_or_default(),
                    alarm.state_reason().unwrap_or_default()
                );
            }
        }
        // The rest of the status is still worth showing.
        Err(e) => println!("\nalarms: could not read them ({})", describe(&e)),
    }
    for (label, suffix) in [("api", "api-url"), ("app", "app-url")] {
        if let Some(url) = export(suffix) {
            println!("{label}: {url}");
        }
    }
    Ok(())
}
