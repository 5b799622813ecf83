//! Liveness (`/healthz`) and readiness (`/readyz`).
//!
//! Readiness checks MySQL and DynamoDB with a short timeout and caches the verdict, so any
//! number of load-balancer probes cost at most one pair of round trips per cache period.
//! Until the schema is at the newest migration this binary embeds, MySQL's round trip reads
//! the newest applied one instead of `SELECT 1`, so a task of a new image takes no traffic
//! before the deploy's migrations ran; once reached it is not asked again, since a schema
//! never goes back (migrations expand, then contract, so a newer schema is fine).
//! Once shutdown begins it answers 503 at once so the load balancer drains this task.

mod store;

use crate::openapi::Unavailable;
use crate::{AppState, clock::Clock, db, dynamo, error::ApiError};
use axum::{Json, extract::State, response::IntoResponse};
use serde::Serialize;
use std::{
    sync::{
        OnceLock, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub mysql: Result<(), String>,
    pub dynamodb: Result<(), String>,
    /// Whether MySQL's schema is one this binary can serve (`Ok` while MySQL cannot tell).
    pub schema: Result<(), String>,
}

impl Verdict {
    fn is_ready(&self) -> bool {
        self.mysql.is_ok() && self.dynamodb.is_ok() && self.schema.is_ok()
    }

    fn failures(&self) -> String {
        [
            ("MySQL", &self.mysql),
            ("DynamoDB", &self.dynamodb),
            ("MySQL", &self.schema),
        ]
        .into_iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

#[derive(Debug)]
pub struct Readiness {
    draining: AtomicBool,
    /// Why this task must never serve (a check that could only run after start-up failed).
    refused: OnceLock<String>,
    /// Set once the schema is at or above the newest migration this binary embeds.
    schema_current: AtomicBool,
    ttl: Duration,
    timeout: Duration,
    cached: RwLock<Option<(Instant, Verdict)>>,
    clock: Clock,
    /// Held while a check runs, so concurrent probes wait for that one instead of piling on.
    refresh: tokio::sync::Mutex<()>,
}

impl Readiness {
    pub fn new(ttl: Duration, timeout: Duration, clock: Clock) -> Self {
        Self {
            draining: AtomicBool::new(false),
            refused: OnceLock::new(),
            schema_current: AtomicBool::new(false),
            ttl,
            timeout,
            cached: RwLock::new(None),
            clock,
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Keeps this task out of service for good, saying why.
    pub fn refuse(&self, reason: String) {
        let _ = self.refused.set(reason);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn fresh(&self) -> Option<Verdict> {
        let guard = self.cached.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| self.clock.now().saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub async fn verdict(&self, state: &AppState) -> Verdict {
        if let Some(v) = self.fresh() {
            return v;
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(v) = self.fresh() {
            return v;
        }
        let timeout = self.timeout;
        let timed_out = || format!("no answer within {} ms", timeout.as_millis());
        let ((mysql, schema), dynamodb) = tokio::join!(
            async {
                match tokio::time::timeout(timeout, self.check_mysql(&state.db)).await {
                    Ok(Ok(schema)) => (Ok(()), schema),
                    Ok(Err(e)) => {
                        if let Some(credentials) = &state.db_credentials
                            && db::credentials::is_refused(&e)
                        {
                            credentials.renew_soon();
                        }
                        (Err(db::describe(&e)), Ok(()))
                    }
                    Err(_) => (Err(timed_out()), Ok(())),
                }
            },
            async {
                match tokio::time::timeout(timeout, dynamo::ping(&state.dynamo, &state.table)).await
                {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(timed_out()),
                }
            },
        );
        let verdict = Verdict {
            mysql,
            dynamodb,
            schema,
        };
        if !verdict.is_ready() {
            tracing::warn!(failures = %verdict.failures(), "not ready");
        }
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some((self.clock.now(), verdict.clone()));
        verdict
    }

    /// Whether MySQL answers (the outer result) and, when it does, whether its schema is one
    /// this binary can serve (the inner one, whose error says what is missing and nothing else).
    async fn check_mysql(&self, pool: &sqlx::MySqlPool) -> Result<Result<(), String>, sqlx::Error> {
        if self.schema_current.load(Ordering::SeqCst) {
            return store::ping(pool).await.map(Ok);
        }
        let applied = store::newest_migration(pool).await?;
        let needed = newest_embedded_migration();
        if applied >= needed {
            self.schema_current.store(true, Ordering::SeqCst);
            return Ok(Ok(()));
        }
        let at = applied.map_or_else(|| "empty".to_owned(), |v| format!("at {v}"));
        let needs = needed.map_or_else(String::new, |v| v.to_string());
        Ok(Err(format!("schema {at}, binary needs {needs}")))
    }
}

/// The version of the newest migration in [`db::MIGRATOR`].
fn newest_embedded_migration() -> Option<i64> {
    db::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .max()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub status: &'static str,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: the process is up. Depends on nothing, so a database outage never gets a task
/// killed.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Status)))]
async fn healthz() -> impl IntoResponse {
    Json(Status { status: "ok" })
}

/// Readiness: MySQL and DynamoDB answer, MySQL's schema is at the newest migration this
/// build embeds (or newer), and the instance is not shutting down.
///
/// Problems, beyond what their status says:
/// - 503: A dependency is down, the schema is behind, or the instance is draining.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = Status),
        Unavailable,
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let readiness = &state.readiness;
    if readiness.is_draining() {
        return Err(ApiError::Unavailable {
            what: "This instance",
            detail: "shutting down".into(),
            retry_after: Duration::from_secs(1),
        });
    }
    if let Some(reason) = readiness.refused.get() {
        return Err(ApiError::Unavailable {
            what: "This instance",
            detail: reason.clone(),
            retry_after: readiness.ttl,
        });
    }
    let verdict = readiness.verdict(&state).await;
    if verdict.is_ready() {
        Ok(Json(Status { status: "ready" }))
    } else if let (Ok(()), Ok(()), Err(reason)) =
        (&verdict.mysql, &verdict.dynamodb, &verdict.schema)
    {
        // Versions only: safe to show, and what the operator needs to see.
        Err(ApiError::NotReady {
            reason: reason.clone(),
            retry_after: readiness.ttl,
        })
    } else {
        Err(ApiError::Unavailable {
            what: dependency_name(&verdict),
            detail: verdict.failures(),
            retry_after: readiness.ttl,
        })
    }
}

/// What is down, and why when the operator must act: MySQL refusing the credentials is a
/// rotation the task has not followed yet, or a secret that holds the wrong password.
fn dependency_name(verdict: &Verdict) -> &'static str {
    let refused = verdict
        .mysql
        .as_ref()
        .is_err_and(|e| e == db::CREDENTIALS_REFUSED);
    match (verdict.mysql.is_ok(), verdict.dynamodb.is_ok()) {
        (false, false) if refused => "MySQL (it refuses the database credentials) and DynamoDB",
        (false, false) => "MySQL and DynamoDB",
        (false, true) if refused => "MySQL (it refuses the database credentials)",
        (false, true) => "MySQL",
        _ => "DynamoDB",
    }
}
