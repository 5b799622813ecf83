//! Accounts: sign up, sign in, sign out (here or everywhere), who am I, and a new password.

mod password_change;
pub mod store;

use crate::openapi::{
    Conflict, Forbidden, ForeignOrigin, InvalidInput, NotSignedIn, TooManyRequests, Unavailable,
};
use crate::{
    AppState,
    audit::{self, Scope},
    auth::{self, Caller, CurrentUser, rate_limit, sessions},
    error::ApiError,
    http::{ApiJson, ClientInfo},
    orgs,
};
use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use faro_types::{LoginRequest, Session, SignupRequest, User};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(me))
        .routes(routes!(password_change::change_password))
}

/// Emails are compared case-insensitively: stored trimmed and lowercased.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Records `action` in the account's own audit log.
async fn record(state: &AppState, client: &ClientInfo, id: u64, email: &str, action: &'static str) {
    let event = audit::Event {
        scope: Scope::User(id),
        actor_id: id,
        actor_email: email,
        client,
        entry: audit::Entry::new(action, format!("user:{id}")),
    };
    audit::record(state, event).await;
}

async fn start_session(
    state: &AppState,
    user: User,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let ttl = state.config.auth.session_ttl;
    let issued = sessions::issue(&state.dynamo, &state.table, user.id, ttl, state.clock.utc())
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
    // The token is in the body: no cache on the way may keep a copy.
    let headers = [
        (header::SET_COOKIE, cookie),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((status, headers, Json(body)).into_response())
}

/// Create an account and sign in. With an `invitation`, the account joins the organization
/// that invited it (the e-mail must be the invited one); without, it creates its own
/// organization, named `organization` or after the person.
///
/// Problems, beyond what their status says:
/// - 403: The invitation is for another e-mail (field `invitation`).
/// - 409: The email is already registered, or the invitation was used, revoked or expired.
/// - 422: Invalid fields, or no invitation has this token (field `invitation`).
/// - 429: Too many sign-ups from the client's network (an IPv4 address or an IPv6 /64), across
///   all backend tasks; see Retry-After.
/// - 503: Every password hashing slot of this task is taken and its queue is full; see
///   Retry-After.
#[utoipa::path(
    post, path = "/api/auth/signup", tag = "accounts",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = Session),
        Forbidden, Conflict, InvalidInput, TooManyRequests, Unavailable,
    )
)]
async fn signup(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    request.validate()?;
    let limits = &state.config.auth;
    rate_limit::enforce(
        &state,
        &format!("SIGNUPS#net:{}", client.network()),
        limits.signup_attempts_per_network,
        limits.signup_window,
    )
    .await
    .inspect_err(|_| tracing::warn!(client_ip = %client.ip, "sign-up rate limited"))?;
    let email = normalize_email(&request.email);
    // A hash costs 19 MiB and a slot: not spent on an e-mail that is taken anyway. The
    // insert's unique key still settles a race between two sign-ups of one e-mail.
    if store::id_by_email(&state.db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let name = request.name.trim().to_owned();
    let hash = state.passwords.hash(request.password).await?;
    let now = crate::db::now();
    // Sign-ups at once may deadlock on the unique keys they insert (e-mail, organization
    // slug); InnoDB then rolls one back, which simply runs again.
    let mut attempt = 0;
    let (id, org_id, entry) = loop {
        attempt += 1;
        let joining = Joining {
            invitation: request.invitation.as_deref(),
            organization: request.organization.as_deref(),
        };
        match create_account(&state, joining, &email, &name, &hash, now).await {
            Err(err) if err.is_lock_conflict() && attempt < 3 => continue,
            other => break other?,
        }
    };
    let user = CurrentUser {
        id,
        email: email.clone(),
        name,
        created_at: now,
        token: String::new(),
    };
    record(&state, &client, id, &email, "account.signup").await;
    orgs::record_joined(&state, &user, &client, org_id, entry).await;
    start_session(&state, user.to_user(), StatusCode::CREATED).await
}

/// Where a new account goes: the organization of its invitation, or one of its own.
#[derive(Debug, Clone, Copy)]
struct Joining<'a> {
    invitation: Option<&'a str>,
    /// The name of its own organization, when chosen.
    organization: Option<&'a str>,
}

/// The account and its own organization (or its invitation's), in one transaction: the
/// account's id, the organization it joined, and the organization's audit entry.
async fn create_account(
    state: &AppState,
    joining: Joining<'_>,
    email: &str,
    name: &str,
    hash: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(u64, u64, audit::Entry), ApiError> {
    let mut tx = state.db.begin().await?;
    let id = store::insert(&mut *tx, email, name, hash, now)
        .await?
        .ok_or_else(email_taken)?;
    let (org_id, entry) = match joining.invitation {
        Some(token) => orgs::accept_in(&mut tx, token, id, email, Some("invitation")).await?,
        None => {
            let org_name = match joining.organization.map(str::trim) {
                Some(chosen) => chosen.to_owned(),
                None => orgs::default_name(name),
            };
            let (org_id, slug) = orgs::create_own(&mut tx, id, &org_name, now).await?;
            let entry = audit::Entry::new("org.create", format!("org:{slug}"))
                .details(serde_json::json!({"name": org_name}).to_string());
            (org_id, entry)
        }
    };
    tx.commit().await?;
    Ok((id, org_id, entry))
}

fn email_taken() -> ApiError {
    ApiError::Conflict {
        detail: "An account with this email already exists; sign in instead.".into(),
        field: Some("email".into()),
    }
}

/// Sign in. Attempts are counted across all backend tasks per client network (an IPv4
/// address or an IPv6 /64) and per account from that network, each refused beyond its limit;
/// past a number of attempts per account from all networks, each further attempt is answered
/// after a growing delay, never refused, so guesses from elsewhere cannot lock the account's
/// owner out.
///
/// Problems, beyond what their status says:
/// - 401: Wrong email or password.
/// - 429: Too many attempts from the client's network; see Retry-After.
/// - 503: Too many sign-ins are waiting out their delay, or every password hashing slot of
///   this task is taken and its queue is full; see Retry-After.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the token is also set as an HttpOnly cookie", body = Session),
        NotSignedIn, TooManyRequests, Unavailable,
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
    let network = client.network();
    let account_subject = format!("email:{email}");
    let from_network = format!("{account_subject}|net:{network}");
    let network_subject = format!("net:{network}");
    let (account_here, network_wide) = tokio::join!(
        rate_limit::count(
            &state.dynamo,
            &state.table,
            &state.clock,
            &from_network,
            limits.login_attempts_per_account_network,
            limits.login_window
        ),
        rate_limit::count(
            &state.dynamo,
            &state.table,
            &state.clock,
            &network_subject,
            limits.login_attempts_per_address,
            limits.login_window
        ),
    );
    for verdict in [
        account_here.map_err(ApiError::dynamo)?,
        network_wide.map_err(ApiError::dynamo)?,
    ] {
        if let rate_limit::Verdict::Limited { retry_after } = verdict {
            tracing::warn!(client_ip = %client.ip, "sign-in rate limited");
            return Err(ApiError::TooManyRequests { retry_after });
        }
    }
    // Counted only once the network's limits let the attempt through: attempts refused
    // there do not lengthen the owner's delay.
    let account = rate_limit::tally(
        &state.dynamo,
        &state.table,
        &state.clock,
        &format!("LOGINS#{account_subject}"),
        limits.login_window,
    )
    .await
    .map_err(ApiError::dynamo)?;
    state.sign_in_delays.wait(account.attempts).await?;

    let row = store::credentials(&state.db, &email).await?;
    let stored = row.as_ref().map(|row| row.password_hash.clone());
    let matches = state.passwords.verify(request.password, stored).await?;
    let Some(store::Credentials {
        id,
        display_name: name,
        created_at,
        ..
    }) = row.filter(|_| matches)
    else {
        return Err(ApiError::Unauthorized);
    };
    // A successful sign-in clears the account's counts (from this network and from all), so
    // the owner's own sign-ins never grow their delay; the network's count stays.
    let (here, everywhere) = tokio::join!(
        rate_limit::reset(
            &state.dynamo,
            &state.table,
            &state.clock,
            &from_network,
            limits.login_window,
        ),
        rate_limit::reset(
            &state.dynamo,
            &state.table,
            &state.clock,
            &account_subject,
            limits.login_window,
        ),
    );
    if let Err(err) = here.and(everywhere) {
        tracing::warn!(error = %err, "could not reset the sign-in counter");
    }
    record(&state, &client, id, &email, "account.login").await;
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
        NotSignedIn, ForeignOrigin,
    )
)]
async fn logout(
    Caller {
        state,
        user,
        client,
    }: Caller,
) -> Result<Response, ApiError> {
    state.sessions.forget(&user.token);
    sessions::revoke(&state.dynamo, &state.table, &user.token)
        .await
        .map_err(ApiError::dynamo)?;
    record(&state, &client, user.id, &user.email, "account.logout").await;
    Ok(signed_out(&state))
}

/// The answer to signing out: no content, and the cookie cleared.
fn signed_out(state: &AppState) -> Response {
    let cookie = auth::clear_cookie(state.config.auth.secure_cookies);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}

/// Sign out everywhere: every session of the account ends, this one included (on other
/// backend tasks within `FARO_SESSION_CACHE_MS`).
#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "accounts",
    responses(
        (status = 204, description = "Every session ended; the cookie is cleared"),
        NotSignedIn, ForeignOrigin,
    )
)]
async fn logout_all(
    Caller {
        state,
        user,
        client,
    }: Caller,
) -> Result<Response, ApiError> {
    let id = user.id;
    auth::end_sessions(&state, &user, false, |at| {
        store::end_sessions(&state.db, id, at, None)
    })
    .await?;
    // Its item would only wait for its expiry.
    if let Err(err) = sessions::revoke(&state.dynamo, &state.table, &user.token).await {
        tracing::warn!(error = %err, "could not delete a session that has ended");
    }
    record(&state, &client, user.id, &user.email, "account.logout_all").await;
    Ok(signed_out(&state))
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/me", tag = "accounts",
    responses(
        (status = 200, description = "The signed-in user", body = User),
        NotSignedIn,
    )
)]
async fn me(caller: Caller) -> Json<User> {
    Json(caller.user.to_user())
}
