//! Who is calling: sessions, passwords, sign-in limits and delays, and the [`Caller`]
//! extractor.

pub mod cache;
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
use chrono::{DateTime, Utc};

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

    /// The user the request's token names: from the task's session cache, else from
    /// DynamoDB and MySQL (and then cached).
    async fn resolve(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_from(&parts.headers).ok_or(ApiError::Unauthorized)?;
        if let Some(user) = state.sessions.get(&token) {
            return Ok(user);
        }
        let session = sessions::find(&state.dynamo, &state.table, &token)
            .await
            .map_err(ApiError::dynamo)?
            .ok_or(ApiError::Unauthorized)?;
        let row = store::user(&state.db, session.user_id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let user = CurrentUser {
            id: session.user_id,
            email: row.email,
            name: row.display_name,
            created_at: row.created_at,
            token,
        };
        state.sessions.put(&user, session.expires_at);
        Ok(user)
    }
}

/// The bearer token or, failing that, the session cookie.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value.to_owned())
    })
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
        let user = CurrentUser::resolve(parts, state).await?;
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
