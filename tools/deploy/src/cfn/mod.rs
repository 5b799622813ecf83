//! CloudFormation: stacks, change sets with a readable diff, and stack events streamed until a
//! stack settles.

pub mod diff;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};

use crate::Hint;
use crate::aws::{Aws, describe, sdk};
use crate::poll::Pace;
use diff::{Change, Diff};

/// How often the wait on a stack looks again.
const STACK_PACE: Pace = Pace {
    settle: Duration::from_secs(10),
    quick: Duration::from_millis(250),
    slow: Duration::from_secs(2),
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("CloudFormation {call} on {stack} failed: {detail}")]
    Call {
        call: &'static str,
        stack: String,
        detail: String,
    },
    #[error("the change set of {stack} failed: {reason}")]
    ChangeSetFailed { stack: String, reason: String },
    #[error("{stack} failed: {reason}")]
    StackFailed {
        stack: String,
        status: String,
        reason: String,
    },
    #[error("{stack} is {status}, which a deploy cannot update")]
    Stuck { stack: String, status: String },
    #[error("{stack} did not settle within {} s (last status {status})", limit.as_secs())]
    TimedOut {
        stack: String,
        status: String,
        limit: Duration,
    },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Call { .. } => "check the AWS credentials and region (`cargo xtask status --env …`); rerun to retry".into(),
            Self::ChangeSetFailed { .. } => {
                "fix the template or the parameters in infra/env/<env>.json (the reason above), then rerun".into()
            }
            Self::StackFailed { stack, .. } => format!(
                "the first failure above is the cause; CloudFormation rolled {stack} back. Fix it and rerun the deploy"
            ),
            Self::Stuck { stack, status } if status.ends_with("IN_PROGRESS") => format!(
                "another operation runs on {stack}: wait for it (`cargo xtask status --env …`), then rerun"
            ),
            Self::Stuck { stack, .. } => format!(
                "look at its events in the CloudFormation console; continue the rollback or delete {stack} (`cargo xtask destroy --env …`)"
            ),
            Self::TimedOut { .. } => {
                "it may still finish: watch it with `cargo xtask status --env …`; raise --stack-timeout for slow resources".into()
            }
        })
    }
}

/// The error of CloudFormation call `name` on `stack`, from the failure's description.
fn call(name: &'static str, stack: &str) -> impl FnOnce(String) -> Error {
    let stack = stack.to_string();
    move |detail| Error::Call {
        call: name,
        stack,
        detail,
    }
}

/// What CloudFormation says about a stack.
#[derive(Debug, Clone, Default)]
pub struct StackInfo {
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub last_updated: Option<String>,
}

impl StackInfo {
    pub fn settled_ok(&self) -> bool {
        matches!(
            self.status.as_str(),
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_COMPLETE"
        )
    }
}

fn is_missing(detail: &str) -> bool {
    detail.contains("does not exist")
}

pub async fn describe_stack(aws: &Aws, name: &str) -> Result<Option<StackInfo>, Error> {
    let out = match aws
        .cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let detail = describe(&e);
            if is_missing(&detail) {
                return Ok(None);
            }
            return Err(call("DescribeStacks", name)(detail));
        }
    };
    let Some(stack) = out.stacks().first() else {
        return Ok(None);
    };
    let status = stack
        .stack_status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    // A stack under review has no resources yet: a change set created it and was not run.
    if status == "DELETE_COMPLETE" || status == "REVIEW_IN_PROGRESS" {
        return Ok(None);
    }
    Ok(Some(StackInfo {
        name: name.to_string(),
        status,
        reason: stack.stack_status_reason().map(str::to_owned),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect(),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        last_updated: stack
            .last_updated_time()
            .or(stack.creation_time())
            .map(|t| t.to_string()),
    }))
}

/// Every export of the account and region, by name.
pub async fn exports(aws: &Aws) -> Result<BTreeMap<String, String>, Error> {
    let mut all = BTreeMap::new();
    let mut token = None;
    loop {
        let out = sdk!(
            aws.cloudformation.list_exports().set_next_token(token),
            call("ListExports", "(all)")
        )?;
        for export in out.exports() {
            if let (Some(name), Some(value)) = (export.name(), export.value()) {
                all.insert(name.to_string(), value.to_string());
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Template parameters: name → default value (`None` when the template has no default).
pub async fn template_parameters(
    aws: &Aws,
    stack: &str,
    body: &str,
) -> Result<BTreeMap<String, Option<String>>, Error> {
    let out = sdk!(
        aws.cloudformation
            .get_template_summary()
            .template_body(body),
        call("GetTemplateSummary", stack)
    )?;
    Ok(out
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.default_value().map(str::to_owned),
            ))
        })
        .collect())
}

/// A change set ready to look at (and execute).
#[derive(Debug, Clone)]
pub struct Planned {
    pub stack: String,
    pub change_set: String,
    pub creates_stack: bool,
    pub diff: Diff,
}

/// What to ask CloudFormation for one stack.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub stack: &'a str,
    pub template_body: &'a str,
    pub parameters: &'a BTreeMap<String, String>,
    pub capabilities: &'a [String],
    pub tags: &'a BTreeMap<String, String>,
    /// Unique per deploy, e.g. `faro-<sha>-<time>`.
    pub change_set_name: &'a str,
}

/// Creates a change set and waits for it; `Ok(None)` when there is nothing to change.
pub async fn plan(
    aws: &Aws,
    request: &Request<'_>,
    current: Option<&StackInfo>,
) -> Result<Option<Planned>, Error> {
    let stack = request.stack;
    if let Some(current) = current {
        let status = current.status.as_str();
        if status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
            || status.ends_with("_FAILED")
        {
            return Err(Error::Stuck {
                stack: stack.to_string(),
                status: status.to_string(),
            });
        }
    }
    let creates_stack = current.is_none_or(|c| c.status == "REVIEW_IN_PROGRESS");
    let change_set_type = if creates_stack {
        ChangeSetType::Create
    } else {
        ChangeSetType::Update
    };
    let created = aws
        .cloudformation
        .create_change_set()
        .stack_name(stack)
        .change_set_name(request.change_set_name)
        .change_set_type(change_set_type)
        .template_body(request.template_body)
        .set_parameters(Some(
            request
                .parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(k)
                        .parameter_value(v)
                        .build()
                })
                .collect(),
        ))
        .set_capabilities(Some(
            request
                .capabilities
                .iter()
                .map(|c| Capability::from(c.as_str()))
                .collect(),
        ))
        .set_tags(Some(
            request
                .tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await;
    if let Err(e) = created {
        let detail = describe(&e);
        // Some CloudFormation implementations refuse an empty update right away.
        if detail.contains("No updates are to be performed") {
            return Ok(None);
        }
        return Err(call("CreateChangeSet", stack)(detail));
    }

    // Wait until CloudFormation has computed it.
    let started = Instant::now();
    let (status, reason) = loop {
        let out = sdk!(
            aws.cloudformation
                .describe_change_set()
                .stack_name(stack)
                .change_set_name(request.change_set_name),
            call("DescribeChangeSet", stack)
        )?;
        let status = out
            .status()
            .cloned()
            .unwrap_or(ChangeSetStatus::CreatePending);
        if matches!(
            status,
            ChangeSetStatus::CreateComplete | ChangeSetStatus::Failed
        ) {
            break (status, out.status_reason().unwrap_or_default().to_string());
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(Error::ChangeSetFailed {
                stack: stack.to_string(),
                reason: "not computed within 5 minutes".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    if status == ChangeSetStatus::Failed {
        let _ = aws
            .cloudformation
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(request.change_set_name)
            .send()
            .await;
        if reason.contains("didn't contain changes")
            || reason.contains("No updates are to be performed")
        {
            return Ok(None);
        }
        return Err(Error::ChangeSetFailed {
            stack: stack.to_string(),
            reason,
        });
    }

    let mut changes = Vec::new();
    let mut token = None;
    loop {
        let out = sdk!(
            aws.cloudformation
                .describe_change_set()
                .stack_name(stack)
                .change_set_name(request.change_set_name)
                .set_next_token(token),
            call("DescribeChangeSet", stack)
        )?;
        for change in out.changes() {
            let Some(rc) = change.resource_change() else {
                continue;
            };
            let mut causes: Vec<String> = rc
                .details()
                .iter()
                .filter_map(|d| {
                    let target = d.target()?;
                    target
                        .name()
                        .map(str::to_owned)
                        .or_else(|| target.attribute().map(|a| a.as_str().to_string()))
                })
                .collect();
            causes.sort();
            causes.dedup();
            changes.push(Change {
                action: diff::action(
                    rc.action().map(|a| a.as_str()).unwrap_or_default(),
                    rc.replacement().map(|r| r.as_str()),
                ),
                logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: rc.resource_type().unwrap_or_default().to_string(),
                causes,
            });
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let parameters = match current {
        Some(current) => request
            .parameters
            .iter()
            .filter_map(|(k, new)| {
                let old = current
                    .parameters
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| "(unset)".into());
                (old != *new).then(|| (k.clone(), (old, new.clone())))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    // Neither resources nor parameters change: nothing to do. (A parameter change alone is
    // still an update: CloudFormation records the new value, and some implementations do not
    // work out which resources it reaches.)
    if changes.is_empty() && parameters.is_empty() {
        discard(aws, stack, request.change_set_name).await;
        return Ok(None);
    }
    Ok(Some(Planned {
        stack: stack.to_string(),
        change_set: request.change_set_name.to_string(),
        creates_stack,
        diff: Diff {
            changes,
            parameters,
        },
    }))
}

/// Deletes a change set that will not be executed (best effort: it expires anyway).
pub async fn discard(aws: &Aws, stack: &str, change_set: &str) {
    let _ = aws
        .cloudformation
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await;
}

/// The ids of the events a stack has now, so that a watch shows only what follows.
pub async fn seen_events(aws: &Aws, stack: &str) -> Seen {
    let mut seen = Seen::default();
    let _ = new_events(aws, stack, &mut seen).await;
    seen
}

/// Event ids already shown.
pub type Seen = std::collections::HashSet<String>;

pub async fn execute(aws: &Aws, planned: &Planned) -> Result<(), Error> {
    sdk!(
        aws.cloudformation
            .execute_change_set()
            .stack_name(&planned.stack)
            .change_set_name(&planned.change_set),
        call("ExecuteChangeSet", &planned.stack)
    )?;
    Ok(())
}

/// One stack event as shown to the user.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub time: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// Events not in `seen` (which learns them), oldest first. Pages are read until one holds
/// nothing new: CloudFormation lists the newest first, so older pages were seen before.
pub async fn new_events(aws: &Aws, stack: &str, seen: &mut Seen) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let out = sdk!(
            aws.cloudformation
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(token),
            call("DescribeStackEvents", stack)
        )?;
        let mut fresh = 0;
        for e in out.stack_events() {
            let id = e.event_id().unwrap_or_default().to_string();
            if !seen.insert(id.clone()) {
                continue;
            }
            fresh += 1;
            events.push(Event {
                id,
                time: e.timestamp().map(|t| t.to_string()).unwrap_or_default(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_owned),
            });
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() || fresh == 0 || events.len() > 1000 {
            break;
        }
    }
    // Oldest first; the sort is stable, so events of one instant keep their listed order.
    events.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(events)
}

/// The failure statuses of resources and stacks.
fn is_failure(status: &str) -> bool {
    status.ends_with("_FAILED")
}

/// Streams the events of `stack` from `since` until it settles. `Ok` when it ended in a
/// success state; the error carries the first failure's reason, not the cascade after it.
/// `on_tick` runs every poll (the service watch hooks in there).
pub async fn watch(
    aws: &Aws,
    stack: &str,
    mut seen: Seen,
    total: usize,
    limit: Duration,
    mut on_tick: impl AsyncFnMut() -> Result<(), crate::Error>,
) -> Result<StackInfo, crate::Error> {
    let started = Instant::now();
    let mut first_failure: Option<String> = None;
    let mut done_resources = std::collections::BTreeSet::new();
    loop {
        let events = match new_events(aws, stack, &mut seen).await {
            Ok(events) => events,
            // A deleted stack is no longer found by name: its status below says DELETE_COMPLETE.
            Err(Error::Call { detail, .. }) if is_missing(&detail) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for event in &events {
            if event.status.ends_with("_COMPLETE") && event.logical_id != stack {
                done_resources.insert(event.logical_id.clone());
            }
            let reason = event
                .reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            println!(
                "    {} [{}/{}] {} {} {}{reason}",
                short_time(&event.time),
                done_resources.len().min(total),
                total,
                event.logical_id,
                event.resource_type.trim_start_matches("AWS::"),
                event.status,
            );
            if is_failure(&event.status) && first_failure.is_none() {
                let reason = event.reason.clone().unwrap_or_else(|| event.status.clone());
                // "Resource creation cancelled" follows the real failure: skip such echoes.
                if !reason.contains("cancelled") {
                    println!(
                        "    ✗ first failure: {} {}: {reason}",
                        event.logical_id, event.resource_type
                    );
                    first_failure = Some(format!(
                        "{} ({}): {reason}",
                        event.logical_id, event.resource_type
                    ));
                }
            }
        }
        on_tick().await?;
        let info = describe_stack(aws, stack)
            .await?
            .unwrap_or_else(|| StackInfo {
                name: stack.to_string(),
                status: "DELETE_COMPLETE".into(),
                ..StackInfo::default()
            });
        let status = info.status.as_str();
        if !status.ends_with("_IN_PROGRESS") {
            return match status {
                "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" | "DELETE_COMPLETE" => {
                    Ok(info)
                }
                _ => Err(Error::StackFailed {
                    stack: stack.to_string(),
                    status: status.to_string(),
                    reason: first_failure
                        .or(info.reason.clone())
                        .unwrap_or_else(|| format!("ended in {status}")),
                }
                .into()),
            };
        }
        if started.elapsed() > limit {
            return Err(Error::TimedOut {
                stack: stack.to_string(),
                status: status.to_string(),
                limit,
            }
            .into());
        }
        STACK_PACE.pause(started).await;
    }
}

fn short_time(time: &str) -> &str {
    // 2024-05-01T12:34:56Z → 12:34:56
    time.get(11..19).unwrap_or(time)
}

pub async fn cancel_update(aws: &Aws, stack: &str) -> Result<(), Error> {
    sdk!(
        aws.cloudformation.cancel_update_stack().stack_name(stack),
        call("CancelUpdateStack", stack)
    )?;
    Ok(())
}

pub async fn delete(aws: &Aws, stack: &str) -> Result<(), Error> {
    sdk!(
        aws.cloudformation.delete_stack().stack_name(stack),
        call("DeleteStack", stack)
    )?;
    Ok(())
}

/// Logical id → physical id of every resource of `stack`.
pub async fn physical_ids(aws: &Aws, stack: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut ids = BTreeMap::new();
    let mut token = None;
    loop {
        let out = sdk!(
            aws.cloudformation
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token),
            call("ListStackResources", stack)
        )?;
        for r in out.stack_resource_summaries() {
            if let (Some(logical), Some(physical)) =
                (r.logical_resource_id(), r.physical_resource_id())
            {
                ids.insert(logical.to_string(), physical.to_string());
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(ids);
        }
    }
}
