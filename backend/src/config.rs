//! Typed configuration, read once from the environment at start-up (12-factor).
//!
//! Every variable is parsed here and nowhere else, so a missing or malformed value stops the
//! process before it binds a port, with one line naming the variable and what it expects.

use faro_resilience::Secret;
use sqlx::mysql::MySqlConnectOptions;
use std::{collections::HashMap, fmt, net::IpAddr, path::PathBuf, str::FromStr, time::Duration};

/// Fargate sends SIGKILL 30 s after SIGTERM; drain + grace must end before that.
const FARGATE_STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set; expected {expected}")]
    Missing {
        var: &'static str,
        expected: &'static str,
    },
    #[error("{var} is invalid ({reason}); expected {expected}")]
    Invalid {
        var: &'static str,
        expected: &'static str,
        reason: String,
    },
}

impl ConfigError {
    /// The variable the error is about.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Missing { var, .. } | Self::Invalid { var, .. } => var,
        }
    }
}

/// Where the process runs; decides defaults that must differ between a laptop and AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeEnv {
    Dev,
    Test,
    /// Every deployed environment, staging included.
    Production,
}

impl RuntimeEnv {
    pub fn is_deployed(self) -> bool {
        self == Self::Production
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `DATABASE_URL`, parsed. `Debug` and `Display` show it with the password masked.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    options: MySqlConnectOptions,
    redacted: String,
    database: Option<String>,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !(raw.starts_with("mysql://") || raw.starts_with("mariadb://")) {
            return Err("the scheme must be mysql://".into());
        }
        let options = MySqlConnectOptions::from_str(raw).map_err(|e| {
            // sqlx's message may quote the URL; keep only its kind so the password never leaks.
            let msg = e.to_string();
            if msg.contains(raw) {
                "not a valid URL".to_string()
            } else {
                msg
            }
        })?;
        let database = options.get_database().map(str::to_owned);
        Ok(Self {
            raw: raw.to_owned(),
            options,
            redacted: redact_url_password(raw),
            database,
        })
    }

    /// The same database from separate pieces; the password is used verbatim.
    pub fn from_parts(host: &str, port: u16, database: &str, user: &str, password: &str) -> Self {
        let options = MySqlConnectOptions::new()
            .host(host)
            .port(port)
            .database(database)
            .username(user)
            .password(password);
        let encode = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        Self {
            raw: format!(
                "mysql://{}:{}@{host}:{port}/{database}",
                encode(user),
                encode(password)
            ),
            options,
            redacted: format!("mysql://{user}:***@{host}:{port}/{database}"),
            database: Some(database.to_owned()),
        }
    }

    pub fn connect_options(&self) -> &MySqlConnectOptions {
        &self.options
    }

    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The URL with its password, for the few sqlx calls that take a string. Never log it.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact_url_password(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "***".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => raw.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
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

#[derive(Debug, Clone)]
pub struct ShutdownConfig {
    /// How long to keep serving after SIGTERM with `/readyz` answering 503, so the load
    /// balancer stops routing here before we stop accepting.
    pub drain: Duration,
    /// Bound on finishing in-flight requests once we stop accepting.
    pub grace: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub host: IpAddr,
    pub port: u16,
    pub request_timeout: Duration,
    pub body_limit: usize,
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ReadinessConfig {
    /// How long one dependency check may take before it counts as down.
    pub check_timeout: Duration,
    /// How long a result is reused, so health checks never stampede the databases.
    pub cache_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub session_ttl: Duration,
    /// How long a task trusts a session it verified without asking DynamoDB again (0: never).
    pub session_cache: Duration,
    /// `Secure` on the session cookie; off only for plain-HTTP local development.
    pub secure_cookies: bool,
    /// Sign-in attempts allowed per account and per client address in one window.
    pub login_attempts_per_account: u32,
    pub login_attempts_per_address: u32,
    pub login_window: Duration,
    /// Take the client address from the last `X-Forwarded-For` hop (the ALB appends it);
    /// only safe behind a proxy that sets the header.
    pub trust_forwarded_for: bool,
}

/// An external service's client settings. The key is a [`Secret`]: `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub base_url: String,
    /// `None` when not configured: the features that need the service are off.
    pub api_key: Option<Secret>,
    /// Bound on one attempt (connect, first byte and whole answer).
    pub timeout: Duration,
    /// Consecutive failures that open the client's circuit breaker.
    pub breaker_failures: u32,
    /// How long the circuit stays open before a probe.
    pub breaker_cool_down: Duration,
}

impl ServiceConfig {
    /// Whether the base URL points somewhere other than the real service's `host`: a
    /// simulator.
    pub fn is_simulated(&self, real_host: &str) -> bool {
        host_of(&self.base_url) != real_host
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

#[derive(Debug, Clone)]
pub struct DeepSeekConfig {
    pub service: ServiceConfig,
    /// `deepseek-chat` or `deepseek-reasoner`.
    pub model: String,
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
}

/// Limits on AI calls.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// Per user, across every task.
    pub requests_per_minute: u32,
    /// DeepSeek calls in flight on one task.
    pub max_concurrent: u32,
    /// Bound on each answer's length.
    pub max_tokens: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub env: RuntimeEnv,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub dynamodb: DynamoConfig,
    pub log_format: LogFormat,
    pub shutdown: ShutdownConfig,
    pub readiness: ReadinessConfig,
    pub auth: AuthConfig,
    /// How often server-sent event streams look for timeline events written by other tasks.
    pub events_poll: Duration,
    /// How long an event stream may stay silent before it sends a comment line, so proxies
    /// (the ALB closes connections idle for 60 s) and browsers keep it open.
    pub events_keep_alive: Duration,
    /// Apply migrations at start-up (dev and test; deployments run `faro-backend migrate`).
    pub auto_migrate: bool,
    /// Create the DynamoDB table when missing (dev and test; in AWS CloudFormation owns it).
    pub create_table: bool,
    pub deepseek: DeepSeekConfig,
    pub sleakops: ServiceConfig,
    pub worker: WorkerConfig,
    pub ai: AiConfig,
    /// `FARO_METRICS_ENVIRONMENT`: the `Environment` dimension of the CloudWatch metrics
    /// (EMF lines on stdout); unset, no metrics are printed.
    pub metrics_environment: Option<String>,
    /// `FARO_FRONTEND_DIR`: the built frontend (`frontend/dist`) to serve beside the API from
    /// one origin (`cargo xtask dev`, end-to-end tests); unset in AWS, where Amplify hosts it.
    pub frontend_dir: Option<PathBuf>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_lookup(|key| vars.get(key).cloned())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let env = vars.parse_with(
            "FARO_ENV",
            "one of dev, test, production",
            Some("production"),
            |v| match v {
                "dev" => Ok(RuntimeEnv::Dev),
                "test" => Ok(RuntimeEnv::Test),
                "production" => Ok(RuntimeEnv::Production),
                _ => Err("unknown environment".into()),
            },
        )?;
        let local = !env.is_deployed();

        let http = HttpConfig {
            host: vars.parse(
                "FARO_HOST",
                "an IP address such as 0.0.0.0",
                Some("0.0.0.0"),
            )?,
            port: vars.parse("FARO_PORT", "a TCP port number (0-65535)", Some("8080"))?,
            request_timeout: vars.millis("FARO_REQUEST_TIMEOUT_MS", "15000")?,
            body_limit: vars.parse_with(
                "FARO_BODY_LIMIT_BYTES",
                "a size in bytes between 1024 and 16777216",
                Some("1048576"),
                |v| match v.parse::<usize>() {
                    Ok(n) if (1024..=16 * 1024 * 1024).contains(&n) => Ok(n),
                    Ok(_) => Err("out of range".into()),
                    Err(e) => Err(e.to_string()),
                },
            )?,
            cors_origins: vars.parse_with(
                "FARO_CORS_ORIGINS",
                "a comma-separated list of origins such as https://app.example.com",
                Some(""),
                parse_origins,
            )?,
        };

        let url = database_url(&vars)?;
        let database = DatabaseConfig {
            url,
            max_connections: vars.parse_with(
                "FARO_DATABASE_MAX_CONNECTIONS",
                "a number of connections between 1 and 1000",
                Some("20"),
                |v| bounded(v, 1, 1000),
            )?,
            min_connections: vars.parse_with(
                "FARO_DATABASE_MIN_CONNECTIONS",
                "a number of connections between 0 and 1000",
                Some("0"),
                |v| bounded(v, 0, 1000),
            )?,
            acquire_timeout: vars.millis("FARO_DATABASE_ACQUIRE_TIMEOUT_MS", "3000")?,
        };
        if database.min_connections > database.max_connections {
            return Err(ConfigError::Invalid {
                var: "FARO_DATABASE_MIN_CONNECTIONS",
                expected: "at most FARO_DATABASE_MAX_CONNECTIONS",
                reason: format!(
                    "{} is more than {}",
                    database.min_connections, database.max_connections
                ),
            });
        }

        let dynamodb = DynamoConfig {
            table: vars.parse_with(
                "FARO_DYNAMODB_TABLE",
                "a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .)",
                Some("faro"),
                parse_table_name,
            )?,
            region: vars.parse_with(
                "AWS_REGION",
                "an AWS region such as eu-west-1",
                Some("us-east-1"),
                |v| {
                    let ok = !v.is_empty()
                        && v.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if ok {
                        Ok(v.to_string())
                    } else {
                        Err("not a region name".into())
                    }
                },
            )?,
            endpoint: vars.optional_with(
                "AWS_ENDPOINT_URL_DYNAMODB",
                "an http(s) URL such as http://127.0.0.1:8000",
                |v| {
                    if v.starts_with("http://") || v.starts_with("https://") {
                        Ok(v.trim_end_matches('/').to_string())
                    } else {
                        Err("the scheme must be http:// or https://".into())
                    }
                },
            )?,
            operation_timeout: vars.millis("FARO_DYNAMODB_TIMEOUT_MS", "3000")?,
            attempt_timeout: vars.millis("FARO_DYNAMODB_ATTEMPT_TIMEOUT_MS", "1000")?,
        };

        let log_format = vars.parse_with(
            "FARO_LOG_FORMAT",
            "json or pretty",
            Some(if env == RuntimeEnv::Dev {
                "pretty"
            } else {
                "json"
            }),
            |v| match v {
                "json" => Ok(LogFormat::Json),
                "pretty" => Ok(LogFormat::Pretty),
                _ => Err("unknown format".into()),
            },
        )?;

        let shutdown = ShutdownConfig {
            drain: vars.parse_with(
                "FARO_SHUTDOWN_DRAIN_SECS",
                "whole seconds between 0 and 25",
                Some(if local { "0" } else { "10" }),
                |v| bounded(v, 0, 25).map(|s| Duration::from_secs(s.into())),
            )?,
            grace: vars.parse_with(
                "FARO_SHUTDOWN_GRACE_SECS",
                "whole seconds between 1 and 28",
                Some("15"),
                |v| bounded(v, 1, 28).map(|s| Duration::from_secs(s.into())),
            )?,
        };
        if shutdown.drain + shutdown.grace >= FARGATE_STOP_TIMEOUT {
            return Err(ConfigError::Invalid {
                var: "FARO_SHUTDOWN_GRACE_SECS",
                expected: "FARO_SHUTDOWN_DRAIN_SECS + FARO_SHUTDOWN_GRACE_SECS under 30 (Fargate's stop timeout)",
                reason: format!(
                    "{} s + {} s",
                    shutdown.drain.as_secs(),
                    shutdown.grace.as_secs()
                ),
            });
        }

        let readiness = ReadinessConfig {
            check_timeout: vars.millis("FARO_READINESS_TIMEOUT_MS", "1000")?,
            cache_ttl: vars.millis("FARO_READINESS_CACHE_MS", "2000")?,
        };

        let auth = AuthConfig {
            session_ttl: vars.parse_with(
                "FARO_SESSION_TTL_HOURS",
                "whole hours between 1 and 720",
                Some("168"),
                |v| bounded(v, 1, 720).map(|h| Duration::from_secs(u64::from(h) * 3600)),
            )?,
            session_cache: vars.parse_with(
                "FARO_SESSION_CACHE_MS",
                "milliseconds between 0 and 60000",
                Some("5000"),
                |v| bounded(v, 0, 60_000).map(|ms| Duration::from_millis(u64::from(ms))),
            )?,
            secure_cookies: vars.flag("FARO_SECURE_COOKIES", !local)?,
            login_attempts_per_account: vars.parse_with(
                "FARO_LOGIN_ATTEMPTS_PER_ACCOUNT",
                "a number of attempts between 1 and 1000",
                Some("10"),
                |v| bounded(v, 1, 1000),
            )?,
            login_attempts_per_address: vars.parse_with(
                "FARO_LOGIN_ATTEMPTS_PER_ADDRESS",
                "a number of attempts between 1 and 100000",
                Some("50"),
                |v| bounded(v, 1, 100_000),
            )?,
            login_window: vars.parse_with(
                "FARO_LOGIN_WINDOW_SECS",
                "whole seconds between 1 and 86400",
                Some("900"),
                |v| bounded(v, 1, 86_400).map(|s| Duration::from_secs(s.into())),
            )?,
            trust_forwarded_for: vars.flag("FARO_TRUST_FORWARDED_FOR", !local)?,
        };

        let deepseek = DeepSeekConfig {
            service: ServiceConfig {
                base_url: vars.parse_with(
                    "FARO_DEEPSEEK_BASE_URL",
                    "an http(s) URL such as https://api.deepseek.com",
                    Some(faro_deepseek::DEFAULT_BASE_URL),
                    parse_base_url,
                )?,
                api_key: vars.secret("FARO_DEEPSEEK_API_KEY"),
                timeout: vars.millis("FARO_DEEPSEEK_TIMEOUT_MS", "60000")?,
                breaker_failures: vars.parse_with(
                    "FARO_DEEPSEEK_BREAKER_FAILURES",
                    "a number of failures between 1 and 1000",
                    Some("5"),
                    |v| bounded(v, 1, 1000),
                )?,
                breaker_cool_down: vars.millis("FARO_DEEPSEEK_BREAKER_COOL_DOWN_MS", "30000")?,
            },
            model: vars.parse_with(
                "FARO_DEEPSEEK_MODEL",
                "deepseek-chat or deepseek-reasoner",
                Some(faro_deepseek::CHAT_MODEL),
                |v| match v {
                    faro_deepseek::CHAT_MODEL | faro_deepseek::REASONER_MODEL => Ok(v.to_owned()),
                    _ => Err(format!("{v:?} is not a DeepSeek model")),
                },
            )?,
        };
        let sleakops = ServiceConfig {
            base_url: vars.parse_with(
                "FARO_SLEAKOPS_BASE_URL",
                "an http(s) URL such as https://api.sleakops.com/api/",
                Some(faro_sleakops::DEFAULT_BASE_URL),
                parse_base_url,
            )?,
            api_key: vars.secret("FARO_SLEAKOPS_API_KEY"),
            timeout: vars.millis("FARO_SLEAKOPS_TIMEOUT_MS", "15000")?,
            breaker_failures: vars.parse_with(
                "FARO_SLEAKOPS_BREAKER_FAILURES",
                "a number of failures between 1 and 1000",
                Some("5"),
                |v| bounded(v, 1, 1000),
            )?,
            breaker_cool_down: vars.millis("FARO_SLEAKOPS_BREAKER_COOL_DOWN_MS", "30000")?,
        };
        let worker = WorkerConfig {
            enabled: vars.flag("FARO_WORKER_ENABLED", true)?,
            concurrency: vars.parse_with(
                "FARO_WORKER_CONCURRENCY",
                "a number of releases between 1 and 256",
                Some("16"),
                |v| bounded(v, 1, 256),
            )?,
            poll: vars.millis("FARO_WORKER_POLL_MS", "1000")?,
            lease: vars.parse_with(
                "FARO_WORKER_LEASE_MS",
                "a duration in milliseconds between 300 and 600000",
                Some("30000"),
                |v| bounded(v, 300, 600_000).map(|ms| Duration::from_millis(ms.into())),
            )?,
            max_attempts: vars.parse_with(
                "FARO_WORKER_MAX_ATTEMPTS",
                "a number of attempts between 1 and 1000",
                Some("20"),
                |v| bounded(v, 1, 1000),
            )?,
            retry_base: vars.millis("FARO_WORKER_RETRY_BASE_MS", "2000")?,
            retry_max: vars.millis("FARO_WORKER_RETRY_MAX_MS", "120000")?,
            status_poll: vars.millis("FARO_WORKER_STATUS_POLL_MS", "2000")?,
            status_poll_max: vars.millis("FARO_WORKER_STATUS_POLL_MAX_MS", "20000")?,
        };
        let ai = AiConfig {
            requests_per_minute: vars.parse_with(
                "FARO_AI_REQUESTS_PER_MINUTE",
                "a number of requests between 1 and 10000",
                Some("20"),
                |v| bounded(v, 1, 10_000),
            )?,
            max_concurrent: vars.parse_with(
                "FARO_AI_MAX_CONCURRENT",
                "a number of calls between 1 and 1000",
                Some("8"),
                |v| bounded(v, 1, 1000),
            )?,
            max_tokens: vars.parse_with(
                "FARO_AI_MAX_TOKENS",
                "a number of tokens between 16 and 8192",
                Some("1024"),
                |v| bounded(v, 16, 8192),
            )?,
        };

        let metrics_environment = vars.optional_with(
            "FARO_METRICS_ENVIRONMENT",
            "an environment name such as staging (1-32 of a-z 0-9 -)",
            |v| {
                let ok = (1..=32).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if ok {
                    Ok(v.to_owned())
                } else {
                    Err(format!("{v:?} is not an environment name"))
                }
            },
        )?;

        let frontend_dir = vars.optional_with(
            "FARO_FRONTEND_DIR",
            "a folder holding the built frontend (its index.html), such as frontend/dist",
            parse_frontend_dir,
        )?;

        Ok(Self {
            metrics_environment,
            frontend_dir,
            deepseek,
            sleakops,
            worker,
            ai,
            auth,
            events_poll: vars.millis("FARO_EVENTS_POLL_MS", "1000")?,
            events_keep_alive: vars.millis("FARO_EVENTS_KEEPALIVE_MS", "15000")?,
            env,
            http,
            database,
            dynamodb,
            log_format,
            shutdown,
            readiness,
            auto_migrate: vars.flag("FARO_AUTO_MIGRATE", local)?,
            create_table: vars.flag("FARO_CREATE_TABLE", local)?,
        })
    }
}

/// The variables that describe the database piece by piece, as ECS fills them from the
/// RDS-managed secret (a password may hold characters a URL would need escaped).
const DATABASE_PIECES: [&str; 5] = [
    "FARO_DATABASE_HOST",
    "FARO_DATABASE_PORT",
    "FARO_DATABASE_NAME",
    "FARO_DATABASE_USER",
    "FARO_DATABASE_PASSWORD",
];
const DATABASE_URL_EXPECTED: &str = "a MySQL URL such as mysql://user:password@host:3306/faro (or FARO_DATABASE_HOST, _NAME, _USER and _PASSWORD instead)";

/// `DATABASE_URL`, or the same from `FARO_DATABASE_*` pieces; never both.
fn database_url(vars: &Vars<'_>) -> Result<DatabaseUrl, ConfigError> {
    let piece_given = DATABASE_PIECES
        .iter()
        .find(|name| vars.get(name).is_some_and(|v| !v.is_empty()));
    if vars.get("DATABASE_URL").is_none() && piece_given.is_some() {
        let required = |var: &'static str, expected: &'static str| {
            vars.get(var)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing { var, expected })
        };
        let host = required("FARO_DATABASE_HOST", "the database host name")?;
        let name = required("FARO_DATABASE_NAME", "the database name")?;
        let user = required("FARO_DATABASE_USER", "the database user")?;
        // Not trimmed: a password is taken exactly as given.
        let password = (vars.0)("FARO_DATABASE_PASSWORD")
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing {
                var: "FARO_DATABASE_PASSWORD",
                expected: "the database password",
            })?;
        let port = vars.parse("FARO_DATABASE_PORT", "a TCP port number", Some("3306"))?;
        return Ok(DatabaseUrl::from_parts(
            &host, port, &name, &user, &password,
        ));
    }
    if let Some(piece) = piece_given {
        return Err(ConfigError::Invalid {
            var: "DATABASE_URL",
            expected: "either DATABASE_URL or the FARO_DATABASE_* variables, not both",
            reason: format!("{piece} is set too"),
        });
    }
    let url = vars.parse_with(
        "DATABASE_URL",
        DATABASE_URL_EXPECTED,
        None,
        DatabaseUrl::parse,
    )?;
    if url.database().is_none() {
        return Err(ConfigError::Invalid {
            var: "DATABASE_URL",
            expected: DATABASE_URL_EXPECTED,
            reason: "it names no database".into(),
        });
    }
    Ok(url)
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|v| v.trim().to_string())
    }

    fn parse_with<T>(
        &self,
        var: &'static str,
        expected: &'static str,
        default: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = match (self.get(var), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_string(),
            (None, None) => return Err(ConfigError::Missing { var, expected }),
        };
        parse(&raw).map_err(|reason| ConfigError::Invalid {
            var,
            expected,
            reason,
        })
    }

    fn optional_with<T>(
        &self,
        var: &'static str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(var).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(raw) => parse(&raw)
                .map(Some)
                .map_err(|reason| ConfigError::Invalid {
                    var,
                    expected,
                    reason,
                }),
        }
    }

    fn parse<T>(
        &self,
        var: &'static str,
        expected: &'static str,
        default: Option<&str>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.parse_with(var, expected, default, |v| {
            v.parse::<T>().map_err(|e| format!("{v:?}: {e}"))
        })
    }

    /// A credential: unset or empty is `None`; the value never appears in errors.
    fn secret(&self, var: &'static str) -> Option<Secret> {
        self.get(var).filter(|v| !v.is_empty()).map(Secret::new)
    }

    fn millis(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.parse_with(
            var,
            "a duration in milliseconds between 1 and 600000",
            Some(default),
            |v| bounded(v, 1, 600_000).map(|ms| Duration::from_millis(ms.into())),
        )
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parse_with(
            var,
            "true or false",
            Some(if default { "true" } else { "false" }),
            |v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("{v:?} is not a boolean")),
            },
        )
    }
}

fn bounded(v: &str, min: u32, max: u32) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range")),
        Err(_) => Err(format!("{v:?} is not a whole number")),
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

fn parse_frontend_dir(v: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(v);
    if dir.join("index.html").is_file() {
        Ok(dir)
    } else if dir.is_dir() {
        Err(format!(
            "{v:?} has no index.html; build it with `cargo xtask frontend build`"
        ))
    } else {
        Err(format!("{v:?} is not a folder"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const URL: (&str, &str) = ("DATABASE_URL", "mysql://faro:s3cr3t@db.internal:3306/faro");

    #[test]
    fn production_defaults_are_safe() {
        let c = config(&[URL]).expect("valid");
        assert_eq!(c.env, RuntimeEnv::Production);
        assert_eq!(c.http.port, 8080);
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(!c.auto_migrate && !c.create_table);
        assert!(c.http.cors_origins.is_empty());
        assert_eq!(c.shutdown.drain, Duration::from_secs(10));
    }

    #[test]
    fn dev_defaults_suit_a_laptop() {
        let c = config(&[URL, ("FARO_ENV", "dev")]).expect("valid");
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert!(c.auto_migrate && c.create_table);
        assert_eq!(c.shutdown.drain, Duration::ZERO);
    }

    #[test]
    fn missing_database_url_is_named() {
        let err = config(&[]).expect_err("DATABASE_URL is required");
        assert_eq!(err.var(), "DATABASE_URL");
        assert!(
            err.to_string()
                .starts_with("DATABASE_URL is not set; expected a MySQL URL")
        );
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let cases = [
            ("FARO_PORT", "eighty"),
            ("FARO_PORT", "70000"),
            ("FARO_ENV", "staging"),
            ("FARO_LOG_FORMAT", "xml"),
            ("FARO_CORS_ORIGINS", "https://ok.example, *"),
            ("FARO_CORS_ORIGINS", "https://app.example/path"),
            ("FARO_AUTO_MIGRATE", "yes"),
            ("FARO_SHUTDOWN_DRAIN_SECS", "40"),
            ("FARO_REQUEST_TIMEOUT_MS", "0"),
            ("FARO_DYNAMODB_TABLE", "a"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "localhost:8000"),
            ("FARO_BODY_LIMIT_BYTES", "10"),
            ("DATABASE_URL", "postgres://x@y/z"),
            ("DATABASE_URL", "mysql://root@127.0.0.1:3306"),
            ("FARO_DEEPSEEK_BASE_URL", "api.deepseek.com"),
            ("FARO_DEEPSEEK_MODEL", "gpt-4"),
            ("FARO_SLEAKOPS_BASE_URL", "ftp://x"),
            ("FARO_WORKER_ENABLED", "maybe"),
            ("FARO_WORKER_CONCURRENCY", "0"),
            ("FARO_WORKER_LEASE_MS", "10"),
            ("FARO_AI_MAX_TOKENS", "100000"),
            ("FARO_METRICS_ENVIRONMENT", "Staging!"),
        ];
        for (var, value) in cases {
            let err = config(&[URL, (var, value)]).expect_err(var);
            assert_eq!(err.var(), var, "{var}={value}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn drain_and_grace_must_fit_fargate_stop_timeout() {
        let err = config(&[
            URL,
            ("FARO_SHUTDOWN_DRAIN_SECS", "20"),
            ("FARO_SHUTDOWN_GRACE_SECS", "15"),
        ])
        .expect_err("35 s is too long");
        assert_eq!(err.var(), "FARO_SHUTDOWN_GRACE_SECS");
    }

    #[test]
    fn secrets_never_appear_in_debug_or_errors() {
        let c = config(&[URL]).expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(
            debug.contains("mysql://faro:***@db.internal:3306/faro"),
            "{debug}"
        );

        let err = config(&[("DATABASE_URL", "mysql://faro:s3cr3t@db:notaport/faro")])
            .expect_err("bad port");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");

        let c = config(&[
            URL,
            ("FARO_DEEPSEEK_API_KEY", "sk-deepseek-s3cr3t"),
            ("FARO_SLEAKOPS_API_KEY", "so-s3cr3t-key"),
        ])
        .expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert_eq!(
            c.deepseek.service.api_key.as_ref().map(|k| k.expose()),
            Some("sk-deepseek-s3cr3t")
        );
    }

    #[test]
    fn external_services_default_to_the_real_ones_without_keys() {
        let c = config(&[URL]).expect("valid");
        assert_eq!(c.deepseek.service.base_url, "https://api.deepseek.com");
        assert_eq!(c.sleakops.base_url, "https://api.sleakops.com/api/");
        assert!(c.deepseek.service.api_key.is_none() && c.sleakops.api_key.is_none());
        assert!(!c.deepseek.service.is_simulated("api.deepseek.com"));
        assert!(!c.sleakops.is_simulated("api.sleakops.com"));
        assert!(c.worker.enabled);
        assert_eq!(c.deepseek.model, "deepseek-chat");

        let c = config(&[
            URL,
            ("FARO_SLEAKOPS_BASE_URL", "http://127.0.0.1:4010/api/"),
            ("FARO_SLEAKOPS_API_KEY", ""),
        ])
        .expect("valid");
        assert!(c.sleakops.is_simulated("api.sleakops.com"));
        assert!(c.sleakops.api_key.is_none(), "empty is unset");
    }

    #[test]
    fn the_database_may_come_in_pieces_with_any_password() {
        let c = config(&[
            ("FARO_DATABASE_HOST", "db.internal"),
            ("FARO_DATABASE_NAME", "faro"),
            ("FARO_DATABASE_USER", "faro"),
            ("FARO_DATABASE_PASSWORD", "p@ss:w/rd%?#"),
        ])
        .expect("valid");
        assert_eq!(
            c.database.url.to_string(),
            "mysql://faro:***@db.internal:3306/faro"
        );
        assert!(!format!("{c:?}").contains("p@ss"));
        // The URL form sqlx's helpers take decodes back to the same password.
        let back = DatabaseUrl::parse(c.database.url.expose()).expect("a valid URL");
        assert_eq!(back.database(), Some("faro"));
        assert_eq!(
            c.database.url.expose(),
            "mysql://faro:p%40ss%3Aw%2Frd%25%3F%23@db.internal:3306/faro"
        );

        let err = config(&[("FARO_DATABASE_HOST", "db"), ("FARO_DATABASE_NAME", "faro")])
            .expect_err("user missing");
        assert_eq!(err.var(), "FARO_DATABASE_USER");
        let err = config(&[URL, ("FARO_DATABASE_HOST", "db")]).expect_err("both");
        assert_eq!(err.var(), "DATABASE_URL");
        assert!(err.to_string().contains("FARO_DATABASE_HOST"), "{err}");
    }

    #[test]
    fn the_frontend_folder_must_hold_a_build() {
        assert_eq!(config(&[URL]).expect("valid").frontend_dir, None);
        let dir = std::env::temp_dir().join(format!("faro-config-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let value = dir.to_string_lossy().into_owned();
        let err = config(&[URL, ("FARO_FRONTEND_DIR", &value)]).expect_err("no index.html");
        assert_eq!(err.var(), "FARO_FRONTEND_DIR");
        assert!(
            err.to_string().contains("cargo xtask frontend build"),
            "{err}"
        );
        std::fs::write(dir.join("index.html"), "<!doctype html>").expect("write");
        let c = config(&[URL, ("FARO_FRONTEND_DIR", &value)]).expect("valid");
        assert_eq!(c.frontend_dir.as_deref(), Some(dir.as_path()));
        let missing = format!("{value}/nope");
        let err = config(&[URL, ("FARO_FRONTEND_DIR", &missing)]).expect_err("missing");
        assert!(err.to_string().contains("not a folder"), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn origins_are_parsed_and_trimmed() {
        let c = config(&[
            URL,
            (
                "FARO_CORS_ORIGINS",
                " https://app.example.com ,http://127.0.0.1:8080",
            ),
        ])
        .expect("valid");
        assert_eq!(
            c.http.cors_origins,
            ["https://app.example.com", "http://127.0.0.1:8080"]
        );
    }
}
