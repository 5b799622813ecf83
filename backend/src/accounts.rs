//! Accounts: sign up, sign in, sign out, and who am I.

use crate::{
    AppState,
    audit::{self, Scope},
    auth::{self, CurrentUser, password, rate_limit, sessions},
    error::ApiError,
    http::{ApiJson, ClientInfo},
};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};

use faro_types::{LoginRequest, Problem, Session, SignupRequest, User};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Emails are compared case-insensitively: stored trimmed and lowercased.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

async fn start_session(
    state: &AppState,
    user: User,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let ttl = state.config.auth.session_ttl;
    let issued = sessions::issue(&state.dynamo, &state.table, user.id, ttl)
        .await
        .map_err(ApiError::dynamo)?;
    let cookie = auth::session_cookie(
        &issued.token,
        ttl.as_secs(),
        state.config.auth.secure_cookies,
    );
    let body = Session {
        token: issued.token,
        user,
        expires_at: issued.expires_at,
    };
    Ok((status, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Create an account and sign in.
#[utoipa::path(
    post, path = "/api/auth/signup", tag = "accounts",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = Session),
        (status = 409, description = "The email is already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn signup(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    request.validate()?;
    let email = normalize_email(&request.email);
    let name = request.name.trim().to_owned();
    let hash = password::hash(request.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = crate::db::now();
    let inserted = sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&email)
    .bind(&name)
    .bind(&hash)
    .bind(now)
    .bind(now)
    .execute(&state.db)
    .await;
    let id = match inserted {
        Ok(done) => done.last_insert_id(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(ApiError::Conflict {
                detail: "An account with this email already exists; sign in instead.".into(),
                field: Some("email".into()),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let user = User {
        id,
        email: email.clone(),
        name,
        created_at: now,
    };
    audit::record(
        &state,
        audit::Event {
            scope: Scope::User(id),
            actor_id: id,
            actor_email: &email,
            client: &client,
            action: "account.signup",
            target: format!("user:{id}"),
            details: None,
        },
    )
    .await;
    start_session(&state, user, StatusCode::CREATED).await
}

/// Sign in; rate limited per account and per client address across all backend tasks.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the token is also set as an HttpOnly cookie", body = Session),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    request.validate()?;
    let email = normalize_email(&request.email);
    let limits = &state.config.auth;
    let account_subject = format!("email:{email}");
    let address_subject = format!("ip:{}", client.ip);
    let (account, address) = tokio::join!(
        rate_limit::count(
            &state.dynamo,
            &state.table,
            &state.clock,
            &account_subject,
            limits.login_attempts_per_account,
            limits.login_window
        ),
        rate_limit::count(
            &state.dynamo,
            &state.table,
            &state.clock,
            &address_subject,
            limits.login_attempts_per_address,
            limits.login_window
        ),
    );
    for verdict in [
        account.map_err(ApiError::dynamo)?,
        address.map_err(ApiError::dynamo)?,
    ] {
        if let rate_limit::Verdict::Limited { retry_after } = verdict {
            tracing::warn!(client_ip = %client.ip, "sign-in rate limited");
            return Err(ApiError::TooManyRequests { retry_after });
        }
    }

    let row: Option<(u64, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, display_name, password_hash, created_at FROM users WHERE email = ?",
    )
    .bind(&email)
    .fetch_optional(&state.db)
    .await?;
    let stored = row.as_ref().map(|(_, _, hash, _)| hash.clone());
    let matches = password::verify(request.password, stored)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some((id, name, _, created_at)) = row.filter(|_| matches) else {
        return Err(ApiError::Unauthorized);
    };
    // A successful sign-in clears the account's count; the address count stays.
    if let Err(err) = rate_limit::reset(
        &state.dynamo,
        &state.table,
        &state.clock,
        &account_subject,
        limits.login_window,
    )
    .await
    {
        tracing::warn!(error = %err, "could not reset the sign-in counter");
    }
    audit::record(
        &state,
        audit::Event {
            scope: Scope::User(id),
            actor_id: id,
            actor_email: &email,
            client: &client,
            action: "account.login",
            target: format!("user:{id}"),
            details: None,
        },
    )
    .await;
    let user = User {
        id,
        email,
        name,
        created_at,
    };
    start_session(&state, user, StatusCode::OK).await
}

/// Sign out: the session ends everywhere it was used.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "accounts",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    user: CurrentUser,
) -> Result<Response, ApiError> {
    state.sessions.forget(&user.token);
    sessions::revoke(&state.dynamo, &state.table, &user.token)
        .await
        .map_err(ApiError::dynamo)?;
    audit::record(
        &state,
        audit::Event::new(
            Scope::User(user.id),
            &user,
            &client,
            "account.logout",
            format!("user:{}", user.id),
        ),
    )
    .await;
    let cookie = auth::clear_cookie(state.config.auth.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/me", tag = "accounts",
    responses(
        (status = 200, description = "The signed-in user", body = User),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn me(user: CurrentUser) -> Json<User> {
    Json(user.to_user())
}
