//! The AI features, answered by DeepSeek: release notes drafted from a changelog, an
//! explanation of a failed release, and a streamed chat about a release.
//!
//! Every call is admitted by [`admit`]: DeepSeek must be configured and its circuit closed
//! (else 503 with `Retry-After`); the caller may have at most `FARO_AI_CONCURRENT_PER_USER`
//! calls in flight on this task (else 429 with `Retry-After`, so one user cannot take every
//! slot while another still gets through); a slot must be free among the task's
//! `FARO_AI_MAX_CONCURRENT` (else 503); the caller must be within
//! `FARO_AI_REQUESTS_PER_MINUTE` (counted in DynamoDB, so across tasks; else 429); and the
//! release's organization must have the call's bound left of its daily token budget
//! ([`budget`], across tasks; else 429 until the UTC day ends). DeepSeek failing answers 503
//! with `Retry-After` and touches nothing else: releases never depend on it. Prompts
//! ([`prompts`]) carry the release's facts and the user's input, nothing more: no emails, ids
//! or credentials, and never in the system message.
//!
//! Notes and explanations answer at once, so they are bounded by `FARO_AI_TIMEOUT_MS` (under
//! the ALB's 60 s idle timeout) instead of the global request timeout; the chat streams.

mod budget;
mod chat;
mod explain;
mod notes;
mod prompts;
mod store;
mod usage;

use crate::{
    AppState,
    access::ProjectAccess,
    auth::{CurrentUser, rate_limit},
    error::ApiError,
};
use faro_deepseek::DeepSeekError;
use faro_types::{Release, Role};
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes that answer at once: each under the AI timeout, not the global one.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notes::draft))
        .routes(routes!(explain::explain))
}

/// The routes that stream or answer from our own stores: under the global timeout.
pub fn quick_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notes::update))
        .routes(routes!(chat::chat))
        .routes(routes!(chat::conversation))
        .routes(routes!(usage::usage))
}

/// `Retry-After` when DeepSeek gave no better hint.
const DEFAULT_RETRY: Duration = Duration::from_secs(30);
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// A call let through: the client, and what it holds until it ends.
#[derive(Debug)]
pub(crate) struct Admission {
    pub deepseek: faro_deepseek::Client,
    /// Settled with the answer's usage once it is known.
    pub reservation: budget::Reservation,
    _slot: crate::slots::Slot,
}

/// Lets `user`'s call with `messages`, paid by organization `org_id`, through, or says why
/// not. Refusals for the service's sake (not configured, circuit open, no free slot) do not
/// count against the user's allowance.
pub(crate) async fn admit(
    state: &AppState,
    user: &CurrentUser,
    org_id: u64,
    messages: &[faro_deepseek::Message],
) -> Result<Admission, ApiError> {
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
    let slot = state.ai.take(user.id)?;
    // Counted only for calls that will be made.
    rate_limit::enforce(
        state,
        &format!("AI#USER#{}", user.id),
        state.config.ai.requests_per_minute,
        RATE_WINDOW,
    )
    .await?;
    let bound = budget::bound(messages, state.config.ai.max_tokens);
    let reservation = budget::reserve(state, org_id, bound).await?;
    Ok(Admission {
        deepseek: client,
        reservation,
        _slot: slot,
    })
}

/// Tokens DeepSeek bills for an answer.
fn billed(usage: faro_deepseek::Usage) -> u64 {
    u64::from(usage.prompt_tokens) + u64::from(usage.completion_tokens)
}

/// Whether a failed call certainly cost nothing: DeepSeek answered with an error status, or
/// was never reached. (A timeout or a broken answer may have been billed.)
fn billed_nothing(err: &DeepSeekError) -> bool {
    err.status().is_some()
        || matches!(
            err,
            DeepSeekError::CircuitOpen { .. }
                | DeepSeekError::Connection { .. }
                | DeepSeekError::Config { .. }
        )
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

/// One answer from DeepSeek to `messages`, paid by organization `org_id`, once the call is
/// admitted ([`admit`]); its usage settles the call's reservation.
pub(crate) async fn complete(
    state: &AppState,
    user: &CurrentUser,
    org_id: u64,
    messages: Vec<faro_deepseek::Message>,
    temperature: f32,
) -> Result<faro_deepseek::Completion, ApiError> {
    let admission = admit(state, user, org_id, &messages).await?;
    let request = faro_deepseek::ChatRequest::new(messages)
        .temperature(temperature)
        .max_tokens(state.config.ai.max_tokens);
    let answer = admission.deepseek.chat(&request).await;
    match &answer {
        Ok(completion) => {
            let used = billed(completion.usage);
            admission.reservation.settle(state, used).await;
        }
        Err(err) if billed_nothing(err) => admission.reservation.settle(state, 0).await,
        Err(_) => {}
    }
    answer.map_err(|e| deepseek_error(state, e))
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
