//! The plain sections of [`Config`](super::Config): each a struct read from its variables in the
//! list (the database, with its two forms, has a file of its own).

use super::{
    ConfigError,
    reader::{Vars, parse_endpoint},
};
use faro_config_vars::{self as var, Var};
use faro_resilience::Secret;
use std::{net::IpAddr, time::Duration};

/// Fargate sends SIGKILL 30 s after SIGTERM; drain + grace must end before that.
const FARGATE_STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub host: IpAddr,
    pub port: u16,
    pub request_timeout: Duration,
    pub body_limit: usize,
    pub cors_origins: Vec<String>,
    /// Requests served at once before more are shed with 503 (probes apart).
    pub max_in_flight: usize,
}

impl HttpConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            host: vars.parse(&var::FARO_HOST)?,
            port: vars.parse(&var::FARO_PORT)?,
            request_timeout: vars.duration(&var::FARO_REQUEST_TIMEOUT_MS)?,
            // At most 16 MiB: a u32 always fits.
            body_limit: vars.count(&var::FARO_BODY_LIMIT_BYTES)? as usize,
            cors_origins: vars.parse_with(&var::FARO_CORS_ORIGINS, parse_origins)?,
            max_in_flight: vars.count(&var::FARO_MAX_IN_FLIGHT)? as usize,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ShutdownConfig {
    /// How long to keep serving after SIGTERM with `/readyz` answering 503, so the load
    /// balancer stops routing here before we stop accepting.
    pub drain: Duration,
    /// Bound on finishing in-flight requests once we stop accepting.
    pub grace: Duration,
}

impl ShutdownConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let shutdown = Self {
            drain: vars.duration(&var::FARO_SHUTDOWN_DRAIN_SECS)?,
            grace: vars.duration(&var::FARO_SHUTDOWN_GRACE_SECS)?,
        };
        if shutdown.drain + shutdown.grace >= FARGATE_STOP_TIMEOUT {
            return Err(ConfigError::Invalid {
                var: var::FARO_SHUTDOWN_GRACE_SECS.name,
                expected: "FARO_SHUTDOWN_DRAIN_SECS + FARO_SHUTDOWN_GRACE_SECS under 30 \
                           (Fargate's stop timeout)"
                    .into(),
                reason: format!(
                    "{} s + {} s",
                    shutdown.drain.as_secs(),
                    shutdown.grace.as_secs()
                ),
            });
        }
        Ok(shutdown)
    }
}

#[derive(Debug, Clone)]
pub struct ReadinessConfig {
    /// How long one dependency check may take before it counts as down.
    pub check_timeout: Duration,
    /// How long a result is reused, so health checks never stampede the databases.
    pub cache_ttl: Duration,
}

impl ReadinessConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            check_timeout: vars.duration(&var::FARO_READINESS_TIMEOUT_MS)?,
            cache_ttl: vars.duration(&var::FARO_READINESS_CACHE_MS)?,
        })
    }
}

fn parse_origins(v: &str) -> Result<Vec<String>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            let host = origin.split_once("://").map_or("", |(_, h)| h);
            if !scheme_ok || host.is_empty() || host.contains('/') || origin.contains('*') {
                Err(format!(
                    "{origin:?} is not an origin (scheme://host[:port], no path, no wildcard)"
                ))
            } else {
                Ok(origin.to_string())
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct DynamoConfig {
    pub table: String,
    pub region: String,
    /// `AWS_ENDPOINT_URL_DYNAMODB`: DynamoDB Local in dev and test.
    pub endpoint: Option<String>,
    pub operation_timeout: Duration,
    pub attempt_timeout: Duration,
}

impl DynamoConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: vars.parse_with(&var::FARO_DYNAMODB_TABLE, parse_table_name)?,
            region: vars.parse_with(&var::AWS_REGION, parse_region)?,
            endpoint: vars.optional_with(&var::AWS_ENDPOINT_URL_DYNAMODB, parse_endpoint)?,
            operation_timeout: vars.duration(&var::FARO_DYNAMODB_TIMEOUT_MS)?,
            attempt_timeout: vars.duration(&var::FARO_DYNAMODB_ATTEMPT_TIMEOUT_MS)?,
        })
    }
}

fn parse_table_name(v: &str) -> Result<String, String> {
    let ok = (3..=255).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?} is not a table name"))
    }
}

fn parse_region(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(v.to_string())
    } else {
        Err("not a region name".into())
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub session_ttl: Duration,
    /// A session unused this long ends, whatever is left of its lifetime.
    pub session_idle: Duration,
    /// How long a task trusts a session it verified without asking DynamoDB again (0: never).
    pub session_cache: Duration,
    /// `Secure` on the session cookie; off only for plain-HTTP local development.
    pub secure_cookies: bool,
    /// Sign-in attempts per account (all networks) in one window before each further one is
    /// delayed; never a refusal, so an attacker cannot lock the account's owner out.
    pub login_attempts_per_account: u32,
    /// Sign-in attempts per (account, client network) and per client network in one window;
    /// 429 beyond. A client network is an IPv4 address or an IPv6 /64.
    pub login_attempts_per_account_network: u32,
    pub login_attempts_per_address: u32,
    pub login_window: Duration,
    /// The delay past the per-account threshold: from `login_delay_base`, doubling, at most
    /// `login_delay_max`.
    pub login_delay_base: Duration,
    pub login_delay_max: Duration,
    /// Sign-ins one task lets wait out their delay at once (503 beyond).
    pub login_delayed_max: u32,
    /// Sign-ups per client network in one window (429 beyond).
    pub signup_attempts_per_network: u32,
    pub signup_window: Duration,
    /// Argon2id hashes computed at once on this task (19 MiB each): the CPUs the task has,
    /// unless `FARO_PASSWORD_HASH_CONCURRENCY` says otherwise.
    pub hash_slots: u32,
    /// Requests that may wait for a hashing slot, per slot (503 beyond).
    pub hash_queue_per_slot: u32,
    /// How long one waits for a slot before it answers 503.
    pub hash_wait: Duration,
    /// Take the client address from the last `X-Forwarded-For` hop (the ALB appends it);
    /// only safe behind a proxy that sets the header.
    pub trust_forwarded_for: bool,
}

impl AuthConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            session_ttl: vars.duration(&var::FARO_SESSION_TTL_HOURS)?,
            session_idle: vars.duration(&var::FARO_SESSION_IDLE_MINUTES)?,
            session_cache: vars.duration(&var::FARO_SESSION_CACHE_MS)?,
            secure_cookies: vars.flag(&var::FARO_SECURE_COOKIES)?,
            login_attempts_per_account: vars.count(&var::FARO_LOGIN_ATTEMPTS_PER_ACCOUNT)?,
            login_attempts_per_account_network: vars
                .count(&var::FARO_LOGIN_ATTEMPTS_PER_ACCOUNT_NETWORK)?,
            login_attempts_per_address: vars.count(&var::FARO_LOGIN_ATTEMPTS_PER_ADDRESS)?,
            login_window: vars.duration(&var::FARO_LOGIN_WINDOW_SECS)?,
            login_delay_base: vars.duration(&var::FARO_LOGIN_DELAY_BASE_MS)?,
            login_delay_max: vars.duration(&var::FARO_LOGIN_DELAY_MAX_MS)?,
            login_delayed_max: vars.count(&var::FARO_LOGIN_DELAYED_MAX)?,
            signup_attempts_per_network: vars.count(&var::FARO_SIGNUP_ATTEMPTS_PER_NETWORK)?,
            signup_window: vars.duration(&var::FARO_SIGNUP_WINDOW_SECS)?,
            hash_slots: match vars.optional_count(&var::FARO_PASSWORD_HASH_CONCURRENCY)? {
                Some(slots) => slots,
                None => std::thread::available_parallelism()
                    .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            },
            hash_queue_per_slot: vars.count(&var::FARO_PASSWORD_HASH_QUEUE_PER_SLOT)?,
            hash_wait: vars.duration(&var::FARO_PASSWORD_HASH_WAIT_MS)?,
            trust_forwarded_for: vars.flag(&var::FARO_TRUST_FORWARDED_FOR)?,
        })
    }
}

/// The key-encryption keys of [`crate::sealing`]. Both are [`Secret`]s: `Debug` never shows
/// them, and a malformed one is reported without its value.
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    /// `FARO_ENCRYPTION_KEY`: seals, and opens what it sealed.
    pub key: Secret,
    /// `FARO_ENCRYPTION_KEY_PREVIOUS`: opens what it sealed, during a rotation.
    pub previous: Option<Secret>,
}

impl EncryptionConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let check = crate::sealing::check_format;
        Ok(Self {
            key: vars.required_secret(&var::FARO_ENCRYPTION_KEY, check)?,
            previous: vars.optional_secret(&var::FARO_ENCRYPTION_KEY_PREVIOUS, check)?,
        })
    }
}

/// An external service's client settings (whatever the key).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub base_url: String,
    /// Bound on one attempt (connect, first byte and whole answer).
    pub timeout: Duration,
    /// Consecutive failures that open the client's circuit breaker.
    pub breaker_failures: u32,
    /// How long the circuit stays open before a probe.
    pub breaker_cool_down: Duration,
}

/// The variables of one service, which differ only by prefix.
pub(super) struct ServiceVars {
    base_url: Var,
    timeout: Var,
    breaker_failures: Var,
    breaker_cool_down: Var,
}

const DEEPSEEK: ServiceVars = ServiceVars {
    base_url: var::FARO_DEEPSEEK_BASE_URL,
    timeout: var::FARO_DEEPSEEK_TIMEOUT_MS,
    breaker_failures: var::FARO_DEEPSEEK_BREAKER_FAILURES,
    breaker_cool_down: var::FARO_DEEPSEEK_BREAKER_COOL_DOWN_MS,
};

pub(super) const SLEAKOPS: ServiceVars = ServiceVars {
    base_url: var::FARO_SLEAKOPS_BASE_URL,
    timeout: var::FARO_SLEAKOPS_TIMEOUT_MS,
    breaker_failures: var::FARO_SLEAKOPS_BREAKER_FAILURES,
    breaker_cool_down: var::FARO_SLEAKOPS_BREAKER_COOL_DOWN_MS,
};

impl ServiceConfig {
    pub(super) fn read(vars: &Vars<'_>, service: &ServiceVars) -> Result<Self, ConfigError> {
        Ok(Self {
            base_url: vars.parse_with(&service.base_url, parse_base_url)?,
            timeout: vars.duration(&service.timeout)?,
            breaker_failures: vars.count(&service.breaker_failures)?,
            breaker_cool_down: vars.duration(&service.breaker_cool_down)?,
        })
    }

    /// Whether the base URL points somewhere other than the real service's `host`: a
    /// simulator.
    pub fn is_simulated(&self, real_host: &str) -> bool {
        host_of(&self.base_url) != real_host
    }
}

/// DeepSeek: the operator's key, for every organization. SleakOps has no such key: each
/// organization brings its own (`crate::orgs::sleakops_key`).
#[derive(Debug, Clone)]
pub struct DeepSeekConfig {
    pub service: ServiceConfig,
    /// `None` when not configured: the AI features are off. A [`Secret`]: `Debug` never
    /// shows it.
    pub api_key: Option<Secret>,
    /// `deepseek-chat` or `deepseek-reasoner`.
    pub model: String,
}

impl DeepSeekConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            service: ServiceConfig::read(vars, &DEEPSEEK)?,
            api_key: vars.secret(&var::FARO_DEEPSEEK_API_KEY),
            model: vars.parse_with(&var::FARO_DEEPSEEK_MODEL, |v| match v {
                faro_deepseek::CHAT_MODEL | faro_deepseek::REASONER_MODEL => Ok(v.to_owned()),
                _ => Err(format!("{v:?} is not a DeepSeek model")),
            })?,
        })
    }
}

/// Limits on AI calls.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// Per user, across every task.
    pub requests_per_minute: u32,
    /// DeepSeek calls in flight on one task.
    pub max_concurrent: u32,
    /// DeepSeek calls in flight for one user on one task.
    pub concurrent_per_user: u32,
    /// Tokens (prompt and completion) an organization may spend per UTC day, across tasks.
    pub daily_tokens_per_org: u32,
    /// Bound on an AI request that answers at once (notes, explanations), instead of the
    /// global request timeout: DeepSeek may take most of a minute.
    pub timeout: Duration,
    /// Bound on each answer's length.
    pub max_tokens: u32,
}

impl AiConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            requests_per_minute: vars.count(&var::FARO_AI_REQUESTS_PER_MINUTE)?,
            max_concurrent: vars.count(&var::FARO_AI_MAX_CONCURRENT)?,
            concurrent_per_user: vars.count(&var::FARO_AI_CONCURRENT_PER_USER)?,
            daily_tokens_per_org: vars.count(&var::FARO_AI_DAILY_TOKENS_PER_ORG)?,
            timeout: vars.duration(&var::FARO_AI_TIMEOUT_MS)?,
            max_tokens: vars.count(&var::FARO_AI_MAX_TOKENS)?,
        })
    }
}

/// The host of an http(s) URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    }
}

fn parse_base_url(v: &str) -> Result<String, String> {
    let host_ok = v.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
    });
    if host_ok && !v.contains(char::is_whitespace) {
        Ok(v.to_owned())
    } else {
        Err(format!("{v:?} is not an http(s) URL"))
    }
}

/// The release worker: claims outbox rows and drives releases through SleakOps.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Runs only when SleakOps is configured too.
    pub enabled: bool,
    /// Releases one task drives at once.
    pub concurrency: u32,
    /// How often an idle worker looks for due outbox rows.
    pub poll: Duration,
    /// How long a claim lasts unless renewed; a dead task's releases resume after it.
    pub lease: Duration,
    /// Failed attempts (SleakOps unavailable…) before the release is failed.
    pub max_attempts: u32,
    /// Backoff between attempts: doubling from `retry_base`, at most `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Wait between two state checks of a build or deployment: from `status_poll`, growing
    /// to `status_poll_max`.
    pub status_poll: Duration,
    pub status_poll_max: Duration,
    /// How long a build or a deployment may run, from its request, before the release is
    /// handed to a person (`needs_attention`) and stops holding a slot.
    pub follow_deadline: Duration,
}

impl WorkerConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            enabled: vars.flag(&var::FARO_WORKER_ENABLED)?,
            concurrency: vars.count(&var::FARO_WORKER_CONCURRENCY)?,
            poll: vars.duration(&var::FARO_WORKER_POLL_MS)?,
            lease: vars.duration(&var::FARO_WORKER_LEASE_MS)?,
            max_attempts: vars.count(&var::FARO_WORKER_MAX_ATTEMPTS)?,
            retry_base: vars.duration(&var::FARO_WORKER_RETRY_BASE_MS)?,
            retry_max: vars.duration(&var::FARO_WORKER_RETRY_MAX_MS)?,
            status_poll: vars.duration(&var::FARO_WORKER_STATUS_POLL_MS)?,
            status_poll_max: vars.duration(&var::FARO_WORKER_STATUS_POLL_MAX_MS)?,
            follow_deadline: vars.duration(&var::FARO_WORKER_FOLLOW_DEADLINE_SECS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_config_vars::Fallback;

    /// The list is dependency-free, so it repeats the clients' defaults; this keeps them equal.
    #[test]
    fn the_listed_defaults_are_the_clients_own() {
        assert_eq!(
            DEEPSEEK.base_url.default,
            Fallback::Value(faro_deepseek::DEFAULT_BASE_URL)
        );
        assert_eq!(
            SLEAKOPS.base_url.default,
            Fallback::Value(faro_sleakops::DEFAULT_BASE_URL)
        );
        assert_eq!(
            var::FARO_DEEPSEEK_MODEL.default,
            Fallback::Value(faro_deepseek::CHAT_MODEL)
        );
        assert_eq!(
            var::FARO_DEEPSEEK_MODEL.accepts,
            var::Accepts::OneOf(&[faro_deepseek::CHAT_MODEL, faro_deepseek::REASONER_MODEL])
        );
    }
}
