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
    let item = item(
        &event.scope.pk(),
        event.actor_id,
        event.actor_email,
        event.entry.action,
        &event.entry.target,
        event.entry.details.as_deref(),
        event.client,
    );
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

/// The audit log's item of one entry, in the log `pk`.
fn item(
    pk: &str,
    actor_id: u64,
    actor_email: &str,
    action: &str,
    target: &str,
    details: Option<&str>,
    client: &ClientInfo,
) -> HashMap<String, AttributeValue> {
    let at = Utc::now();
    let mut suffix = [0u8; 4];
    let _ = getrandom::fill(&mut suffix);
    let sk = format!(
        "AT#{}#{}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true),
        hex::encode(suffix)
    );
    let s = |value: &str| AttributeValue::S(value.to_owned());
    let mut item = HashMap::from([
        (PK.to_owned(), s(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
        ("actor_id".to_owned(), AttributeValue::N(actor_id.to_string())),
        ("actor_email".to_owned(), s(actor_email)),
        ("action".to_owned(), s(action)),
        ("target".to_owned(), s(target)),
        ("source_ip".to_owned(), s(&client.ip)),
    ]);
    if let Some(details) = details {
        item.insert("details".into(), s(details));
    }
    if let Some(agent) = &client.user_agent {
        item.insert("user_agent".into(), s(agent));
    }
    item
}

/// Who made the entries a migration left: no account, from no address.
const MIGRATION_ACTOR: &str = "faro-migration";

/// Moves the audit entries SQL migrations left in MySQL (which cannot reach DynamoDB) into
/// the audit log, a few at a time, until none is left or `stop` turns true. Each batch is
/// claimed with SKIP LOCKED and deleted only once DynamoDB took it, so tasks starting
/// together neither lose nor repeat an entry.
pub async fn deliver_migrated(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let client = ClientInfo {
        ip: "-".into(),
        user_agent: None,
    };
    loop {
        // Asked outside any transaction: nearly always there is nothing to deliver, and a
        // transaction held open for nothing would hold up schema changes (and a test's DROP
        // DATABASE) behind its metadata lock.
        match crate::orgs::store::has_pending_audit(&state.db).await {
            Ok(false) => return,
            Ok(true) => {}
            Err(err) => tracing::warn!(error = %err, "cannot look for migrated audit entries"),
        }
        match deliver_batch(&state, &client).await {
            Ok(0) => return,
            Ok(_) => continue,
            Err(err) => tracing::warn!(error = %err, "cannot deliver migrated audit entries yet"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Delivers one batch: how many entries it held.
async fn deliver_batch(state: &AppState, client: &ClientInfo) -> Result<usize, String> {
    let mut tx = state.db.begin().await.map_err(|e| e.to_string())?;
    let pending = crate::orgs::store::claim_pending_audit(&mut tx, 25)
        .await
        .map_err(|e| e.to_string())?;
    for entry in &pending {
        let item = item(
            &entry.scope,
            0,
            MIGRATION_ACTOR,
            &entry.action,
            &entry.target,
            entry.details.as_deref(),
            client,
        );
        state.writes.put(item).await.map_err(|e| e.to_string())?;
        crate::orgs::store::forget_audit(&mut *tx, entry.id)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(pending.len())
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
