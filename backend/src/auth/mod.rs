//! Who is calling: sessions, passwords, sign-in limits and delays, and the [`Caller`]
//! extractor.

pub mod cache;
mod origin;
pub mod password;
pub mod rate_limit;
pub mod sessions;
mod store;
pub mod throttle;

use crate::{AppState, error::ApiError, http::ClientInfo};
use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use chrono::{DateTime, SubsecRound, Utc};

/// The session cookie's name.
pub const COOKIE: &str = "faro_session";

/// A signed-in user, resolved from `Authorization: Bearer <token>` or the session cookie.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The token the request was authenticated with, for sign-out.
    pub(crate) token: String,
}

impl CurrentUser {
    pub fn to_user(&self) -> faro_types::User {
        faro_types::User {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            created_at: self.created_at,
        }
    }
}

/// The signed-in user of `token`, or `None` when its session is over: expired, unused for
/// `FARO_SESSION_IDLE_MINUTES`, signed out, or ended with all of the user's sessions (sign out
/// everywhere, a password change). The one judge of whether a session is alive: every request
/// through [`Caller`] asks it, and so should anything long-lived that re-checks its session.
/// A task trusts its memory of a verified session for `FARO_SESSION_CACHE_MS` (see
/// [`cache`]); otherwise this reads DynamoDB (the session) and MySQL (the user).
pub async fn live_user(state: &AppState, token: &str) -> Result<Option<CurrentUser>, ApiError> {
    if let Some(user) = state.sessions.get(token) {
        return Ok(Some(user));
    }
    let auth = &state.config.auth;
    let now = state.clock.utc();
    let session = sessions::find(&state.dynamo, &state.table, token, now, auth.session_idle)
        .await
        .map_err(ApiError::dynamo)?;
    let Some(session) = session else {
        return Ok(None);
    };
    let Some(row) = store::user(&state.db, session.user_id).await? else {
        return Ok(None);
    };
    if row
        .sessions_valid_from
        .is_some_and(|from| session.valid_from < from)
    {
        return Ok(None);
    }
    let user = CurrentUser {
        id: session.user_id,
        email: row.email,
        name: row.display_name,
        created_at: row.created_at,
        token: token.to_owned(),
    };
    state
        .sessions
        .put(&user, session.expires_at.min(session.idle_until));
    Ok(Some(user))
}

/// Ends every session of `user` that began before now (on other tasks once their memory of a
/// session lapses, see [`cache`]), except, with `keep_current`, the one the request came with.
/// `commit` writes the instant into the user's row (`users.sessions_valid_from`), with whatever
/// must change with it in the same statement (a new password hash); until it succeeds, nothing
/// has ended.
pub async fn end_sessions<F>(
    state: &AppState,
    user: &CurrentUser,
    keep_current: bool,
    commit: impl FnOnce(DateTime<Utc>) -> F,
) -> Result<(), ApiError>
where
    F: Future<Output = Result<(), sqlx::Error>>,
{
    // Sessions record when they began in milliseconds.
    let at = state.clock.utc().trunc_subsecs(3);
    if keep_current {
        // Moved first, so that the current session is never seen as ended.
        sessions::restart(&state.dynamo, &state.table, &user.token, at)
            .await
            .map_err(ApiError::dynamo)?;
    }
    commit(at).await?;
    state.sessions.forget_user(user.id);
    Ok(())
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer`: a script sent it on purpose.
    Bearer,
    /// The session cookie, which the browser attaches by itself.
    Cookie,
}

/// The bearer token or, failing that, the session cookie.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    credential_from(headers).map(|(_, token)| token)
}

/// The bearer token or, failing that, the session cookie, and which of the two it was.
pub fn credential_from(headers: &HeaderMap) -> Option<(Credential, String)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    if let Some(token) = bearer {
        return Some((Credential::Bearer, token));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| (Credential::Cookie, value.to_owned()))
}

/// A signed-in caller, with the app and where the request came from: what a handler that
/// needs a user starts from. Resolving it answers 401 problems to anonymous callers.
#[derive(Debug)]
pub struct Caller {
    pub state: AppState,
    pub user: CurrentUser,
    pub client: ClientInfo,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let (credential, token) = credential_from(&parts.headers).ok_or(ApiError::Unauthorized)?;
        if credential == Credential::Cookie && !parts.method.is_safe() {
            origin::check(parts, &state.config)?;
        }
        let user = live_user(state, &token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self {
            state: state.clone(),
            user,
            client,
        })
    }
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure outside local development.
pub fn session_cookie(token: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("hex tokens make a valid header")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    session_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_wins_over_cookie_and_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; faro_session=abc; x=1"),
        );
        assert_eq!(token_from(&headers).as_deref(), Some("abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  xyz"),
        );
        assert_eq!(token_from(&headers).as_deref(), Some("xyz"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9v"),
        );
        assert_eq!(token_from(&headers).as_deref(), Some("abc"));
    }

    #[test]
    fn cookies_are_http_only_and_lax() {
        let c = session_cookie("t", 60, true);
        let c = c.to_str().expect("ascii");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("Secure"));
        assert!(
            !session_cookie("t", 60, false)
                .to_str()
                .expect("ascii")
                .contains("Secure")
        );
    }
}
