//! The audit log: every write records who, what, when and from where, in DynamoDB
//! (`pk = AUDIT#<project id>`, `AUDIT#ORG#<organization id>` or `AUDIT#USER#<user id>`,
//! `sk = AT#<time>#<random>`).

use crate::{
    AppState,
    auth::CurrentUser,
    dynamo::{PK, SK},
    error::ApiError,
    http::ClientInfo,
};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use faro_types::{AuditEntry, Page};
use std::collections::HashMap;

/// Whose log an entry goes to.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Project(u64),
    /// Organization actions: members, invitations, credentials.
    Org(u64),
    /// Account actions (sign-up, sign-in, sign-out) that belong to no project.
    User(u64),
}

impl Scope {
    fn pk(self) -> String {
        match self {
            Self::Project(id) => format!("AUDIT#{id}"),
            Self::Org(id) => format!("AUDIT#ORG#{id}"),
            Self::User(id) => format!("AUDIT#USER#{id}"),
        }
    }
}

/// What an entry says happened.
#[derive(Debug)]
pub struct Entry {
    pub action: &'static str,
    pub target: String,
    pub details: Option<String>,
}

impl Entry {
    pub fn new(action: &'static str, target: String) -> Self {
        Self {
            action,
            target,
            details: None,
        }
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }
}

#[derive(Debug)]
pub struct Event<'a> {
    pub scope: Scope,
    pub actor_id: u64,
    pub actor_email: &'a str,
    pub client: &'a ClientInfo,
    pub entry: Entry,
}

impl<'a> Event<'a> {
    pub fn new(scope: Scope, actor: &'a CurrentUser, client: &'a ClientInfo, entry: Entry) -> Self {
        Self {
            scope,
            actor_id: actor.id,
            actor_email: &actor.email,
            client,
            entry,
        }
    }
}

/// Records `event`. Called after the change committed, so it never fails the request: if
/// DynamoDB refuses (after the SDK's retries) the entry goes to the error log in full, where
/// CloudWatch keeps it.
pub async fn record(state: &AppState, event: Event<'_>) {
    let at = Utc::now();
    let mut suffix = [0u8; 4];
    let _ = getrandom::fill(&mut suffix);
    let sk = format!(
        "AT#{}#{}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true),
        hex::encode(suffix)
    );
    let mut item = HashMap::from([
        (PK.to_owned(), AttributeValue::S(event.scope.pk())),
        (SK.to_owned(), AttributeValue::S(sk)),
        (
            "actor_id".to_owned(),
            AttributeValue::N(event.actor_id.to_string()),
        ),
        (
            "actor_email".to_owned(),
            AttributeValue::S(event.actor_email.to_owned()),
        ),
        (
            "action".to_owned(),
            AttributeValue::S(event.entry.action.to_owned()),
        ),
        (
            "target".to_owned(),
            AttributeValue::S(event.entry.target.clone()),
        ),
        (
            "source_ip".to_owned(),
            AttributeValue::S(event.client.ip.clone()),
        ),
    ]);
    if let Some(details) = &event.entry.details {
        item.insert("details".into(), AttributeValue::S(details.clone()));
    }
    if let Some(agent) = &event.client.user_agent {
        item.insert("user_agent".into(), AttributeValue::S(agent.clone()));
    }
    if let Err(err) = state.writes.put(item).await {
        tracing::error!(
            error = %err,
            audit.scope = %event.scope.pk(),
            audit.actor_id = event.actor_id,
            audit.action = event.entry.action,
            audit.target = %event.entry.target,
            audit.source_ip = %event.client.ip,
            audit.details = ?event.entry.details,
            "audit entry not stored"
        );
    }
}

/// Newest entries first; `cursor` is the `next_cursor` of the previous page.
pub async fn list(
    state: &AppState,
    scope: Scope,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<AuditEntry>, ApiError> {
    let pk = scope.pk();
    let mut query = state
        .dynamo
        .query()
        .table_name(&*state.table)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
        .scan_index_forward(false)
        .limit(limit as i32);
    if let Some(cursor) = cursor {
        let sk = crate::paging::decode(cursor, |sk| sk.starts_with("AT#").then_some(sk))?;
        query = query
            .exclusive_start_key(PK, AttributeValue::S(pk))
            .exclusive_start_key(SK, AttributeValue::S(sk));
    }
    let output = query.send().await.map_err(ApiError::dynamo)?;
    let items = output.items().iter().filter_map(entry).collect();
    let next_cursor = output
        .last_evaluated_key()
        .and_then(|k| k.get(SK))
        .and_then(|v| v.as_s().ok())
        .map(|sk| crate::paging::encode(sk));
    Ok(Page { items, next_cursor })
}

fn entry(item: &HashMap<String, AttributeValue>) -> Option<AuditEntry> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let sk = s(SK)?;
    let at = sk.strip_prefix("AT#")?.rsplit_once('#')?.0;
    Some(AuditEntry {
        at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        actor_id: item.get("actor_id")?.as_n().ok()?.parse().ok()?,
        actor_email: s("actor_email")?,
        action: s("action")?,
        target: s("target")?,
        source_ip: s("source_ip")?,
        details: s("details"),
    })
}
