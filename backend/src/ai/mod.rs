//! The AI features, answered by DeepSeek: release notes drafted from a changelog, an
//! explanation of a failed release, and a streamed chat about a release.
//!
//! Every call is admitted by [`admit`]: DeepSeek must be configured and its circuit closed
//! (else 503 with `Retry-After`), the caller within `FARO_AI_REQUESTS_PER_MINUTE` (counted in
//! DynamoDB, so across tasks; else 429), and a slot free among the task's
//! `FARO_AI_MAX_CONCURRENT` calls (else 503). DeepSeek failing answers 503 with `Retry-After`
//! and touches nothing else: releases never depend on it. Prompts ([`prompts`]) carry the
//! release's facts and the user's input, nothing more: no emails, ids or credentials.

mod chat;
mod explain;
mod notes;
mod prompts;
mod store;

use crate::{
    AppState,
    access::ProjectAccess,
    auth::{CurrentUser, rate_limit},
    error::ApiError,
};
use faro_deepseek::DeepSeekError;
use faro_types::{Release, Role};
use std::{sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notes::draft))
        .routes(routes!(notes::update))
        .routes(routes!(explain::explain))
        .routes(routes!(chat::chat))
        .routes(routes!(chat::conversation))
}

/// The task's bound on concurrent DeepSeek calls.
#[derive(Debug)]
pub struct AiGate {
    slots: Arc<Semaphore>,
}

impl AiGate {
    pub fn new(max_concurrent: u32) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent as usize)),
        }
    }
}

/// How long a caller refused for lack of a free slot is asked to wait.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// `Retry-After` when DeepSeek gave no better hint.
const DEFAULT_RETRY: Duration = Duration::from_secs(30);
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Lets one AI call through for `user`, or says why not. Refusals for the service's sake
/// (not configured, circuit open, no free slot) do not count against the user's allowance.
pub(crate) async fn admit(
    state: &AppState,
    user: &CurrentUser,
) -> Result<(faro_deepseek::Client, OwnedSemaphorePermit), ApiError> {
    let Some(client) = state.external.deepseek.clone() else {
        return Err(ApiError::Unavailable {
            what: "DeepSeek",
            detail: "not configured: set FARO_DEEPSEEK_API_KEY".into(),
            retry_after: Duration::from_secs(300),
        });
    };
    if let faro_resilience::BreakerState::Open { retry_in } = client.circuit() {
        return Err(ApiError::Unavailable {
            what: "DeepSeek",
            detail: "the circuit is open after repeated failures".into(),
            retry_after: retry_in.max(Duration::from_secs(1)),
        });
    }
    let permit = state
        .ai
        .slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable {
            what: "The AI assistant",
            detail: "every AI slot of this task is busy".into(),
            retry_after: BUSY_RETRY,
        })?;
    // Counted only for calls that will be made.
    let verdict = rate_limit::count_in(
        &state.dynamo,
        &state.table,
        &state.clock,
        &format!("AI#USER#{}", user.id),
        state.config.ai.requests_per_minute,
        RATE_WINDOW,
    )
    .await
    .map_err(ApiError::dynamo)?;
    if let rate_limit::Verdict::Limited { retry_after } = verdict {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    Ok((client, permit))
}

/// The answer for a failed DeepSeek call: 503 with `Retry-After`, or 500 when our own
/// request was at fault. Counted for the metrics.
pub(crate) fn deepseek_error(state: &AppState, err: DeepSeekError) -> ApiError {
    if !matches!(err, DeepSeekError::CircuitOpen { .. }) {
        state.metrics.external_error();
    }
    if err.is_request_error() {
        return ApiError::Internal(format!("DeepSeek refused our request: {err}"));
    }
    ApiError::Unavailable {
        what: "DeepSeek",
        detail: err.to_string(),
        retry_after: err
            .retry_after()
            .unwrap_or(DEFAULT_RETRY)
            .max(Duration::from_secs(1)),
    }
}

/// One answer from DeepSeek to `messages`, once the call is admitted ([`admit`]).
pub(crate) async fn complete(
    state: &AppState,
    user: &CurrentUser,
    messages: Vec<faro_deepseek::Message>,
    temperature: f32,
) -> Result<faro_deepseek::Completion, ApiError> {
    let (deepseek, _slot) = admit(state, user).await?;
    let request = faro_deepseek::ChatRequest::new(messages)
        .temperature(temperature)
        .max_tokens(state.config.ai.max_tokens);
    deepseek
        .chat(&request)
        .await
        .map_err(|e| deepseek_error(state, e))
}

/// The release `id` if `user` may see it with at least `role`.
pub(crate) async fn release_for(
    state: &AppState,
    user: &CurrentUser,
    id: u64,
    role: Role,
) -> Result<(ProjectAccess, Release), ApiError> {
    let (access, release) = crate::releases::query::load(state, user, id).await?;
    access.require(role)?;
    Ok((access, release))
}
