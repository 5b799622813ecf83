//! A new password, from a signed-in session that proves it knows the current one.

use super::{record, store};
use crate::openapi::{Forbidden, InvalidInput, NotSignedIn, TooManyRequests};
use crate::{
    auth::{self, Caller, rate_limit},
    error::ApiError,
    http::ApiJson,
};
use axum::http::StatusCode;
use faro_types::ChangePassword;

/// Change the password. The session the request came with stays; every other session of the
/// account ends (on other backend tasks within `FARO_SESSION_CACHE_MS`). Attempts count per
/// account like sign-in attempts (`FARO_LOGIN_ATTEMPTS_PER_ACCOUNT` per
/// `FARO_LOGIN_WINDOW_SECS`), so a stolen session cannot guess the password.
///
/// Problems, beyond what their status says:
/// - 403: The current password is wrong (field `current_password`); or the request, signed in
///   with the cookie, came from none of the app's origins (field `origin`).
/// - 422: Invalid fields: the new password follows sign-up's rules and differs from the
///   current one.
/// - 429: Too many attempts; see Retry-After.
#[utoipa::path(
    post, path = "/api/me/password", tag = "accounts",
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every other session of the account has ended"),
        NotSignedIn, Forbidden, InvalidInput, TooManyRequests,
    )
)]
pub(super) async fn change_password(
    Caller {
        state,
        user,
        client,
    }: Caller,
    ApiJson(request): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    request.validate()?;
    let limits = &state.config.auth;
    // Counted before the check, like sign-in attempts, so parallel guesses cannot slip past.
    rate_limit::enforce(
        &state,
        &format!("PASSWORD_CHANGES#{}", user.id),
        limits.login_attempts_per_account,
        limits.login_window,
    )
    .await?;
    let stored = store::password_hash(&state.db, user.id).await?;
    let matches = state
        .passwords
        .verify(request.current_password, stored)
        .await?;
    if !matches {
        return Err(ApiError::Forbidden {
            detail: "This is not your current password.".into(),
            field: Some("current_password".into()),
        });
    }
    let hash = state.passwords.hash(request.new_password).await?;
    let id = user.id;
    auth::end_sessions(&state, &user, true, |at| {
        store::end_sessions(&state.db, id, at, Some(&hash))
    })
    .await?;
    record(
        &state,
        &client,
        user.id,
        &user.email,
        "account.password_change",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
