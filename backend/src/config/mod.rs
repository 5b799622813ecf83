//! Typed configuration, read once from the environment at start-up (12-factor).
//!
//! Every variable is listed in `faro-config-vars` (name, defaults, what it accepts, meaning) and
//! parsed here and nowhere else, one section at a time (`sections.rs`, `database.rs`) through
//! `reader.rs`, so a missing or malformed value stops the process before it binds a port, with
//! one line naming the variable and what it expects.

mod database;
mod reader;
mod sections;

pub use database::{DatabaseConfig, DatabaseTls, DatabaseUrl, TlsMode, UserSecrets};
pub use faro_config_vars::RuntimeEnv;
pub use sections::{
    AiConfig, AuthConfig, DeepSeekConfig, DynamoConfig, EncryptionConfig, HttpConfig,
    ReadinessConfig, ServiceConfig, ShutdownConfig, WorkerConfig,
};

use faro_config_vars as var;
use reader::Vars;
use std::{collections::HashMap, path::PathBuf, time::Duration};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set; expected {expected}")]
    Missing { var: &'static str, expected: String },
    #[error("{var} is invalid ({reason}); expected {expected}")]
    Invalid {
        var: &'static str,
        expected: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
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
    pub encryption: EncryptionConfig,
    /// How often server-sent event streams look for timeline events written by other tasks.
    pub events_poll: Duration,
    /// How long an event stream may stay silent before it sends a comment line, so proxies
    /// (the ALB closes connections idle for 60 s) and browsers keep it open.
    pub events_keep_alive: Duration,
    /// How often a live timeline asks whether its session still lives.
    pub events_session_check: Duration,
    /// Live timelines one user may hold open on this task, and this task in all.
    pub events_streams_per_user: usize,
    pub events_streams_per_task: usize,
    /// How long a release to an environment that requires approval waits for one before it
    /// expires.
    pub approval_expiry: Duration,
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
    /// The sections are read in a fixed order: the first error found is the one reported.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(&lookup)?;
        let http = HttpConfig::read(&vars)?;
        let database = DatabaseConfig::read(&vars)?;
        let dynamodb = DynamoConfig::read(&vars)?;
        let log_format = vars.parse_with(&var::FARO_LOG_FORMAT, |v| match v {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err("unknown format".into()),
        })?;
        let shutdown = ShutdownConfig::read(&vars)?;
        let readiness = ReadinessConfig::read(&vars)?;
        let auth = AuthConfig::read(&vars)?;
        let encryption = EncryptionConfig::read(&vars)?;
        let deepseek = DeepSeekConfig::read(&vars)?;
        let sleakops = ServiceConfig::read(&vars, &sections::SLEAKOPS)?;
        let worker = WorkerConfig::read(&vars)?;
        let ai = AiConfig::read(&vars)?;
        let metrics_environment =
            vars.optional_with(&var::FARO_METRICS_ENVIRONMENT, parse_metrics_environment)?;
        let frontend_dir = vars.optional_with(&var::FARO_FRONTEND_DIR, parse_frontend_dir)?;
        Ok(Self {
            env: vars.env(),
            http,
            database,
            dynamodb,
            log_format,
            shutdown,
            readiness,
            auth,
            encryption,
            events_poll: vars.duration(&var::FARO_EVENTS_POLL_MS)?,
            events_keep_alive: vars.duration(&var::FARO_EVENTS_KEEPALIVE_MS)?,
            events_session_check: vars.duration(&var::FARO_EVENTS_SESSION_CHECK_MS)?,
            events_streams_per_user: vars.count(&var::FARO_EVENTS_STREAMS_PER_USER)? as usize,
            events_streams_per_task: vars.count(&var::FARO_EVENTS_STREAMS_PER_TASK)? as usize,
            approval_expiry: vars.duration(&var::FARO_APPROVAL_EXPIRY_SECS)?,
            auto_migrate: vars.flag(&var::FARO_AUTO_MIGRATE)?,
            create_table: vars.flag(&var::FARO_CREATE_TABLE)?,
            deepseek,
            sleakops,
            worker,
            ai,
            metrics_environment,
            frontend_dir,
        })
    }
}

fn parse_metrics_environment(v: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!("{v:?} is not an environment name"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration of `pairs`, with a valid encryption key unless they set one.
    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = std::iter::once(&KEY)
            .chain(pairs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const URL: (&str, &str) = ("DATABASE_URL", "mysql://faro:s3cr3t@db.internal:3306/faro");
    const KEY: (&str, &str) = (
        "FARO_ENCRYPTION_KEY",
        "s3cr3tKEK/0123456789abcdefghijklmnopqrstuvw=",
    );

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
            ("FARO_MAX_IN_FLIGHT", "0"),
            ("FARO_EVENTS_STREAMS_PER_USER", "none"),
            ("FARO_EVENTS_SESSION_CHECK_MS", "0"),
            ("FARO_AI_TIMEOUT_MS", "60000"),
            ("FARO_AI_CONCURRENT_PER_USER", "0"),
            ("FARO_AI_DAILY_TOKENS_PER_ORG", "ten"),
            ("FARO_METRICS_ENVIRONMENT", "Staging!"),
            ("FARO_ENCRYPTION_KEY", ""),
            ("FARO_ENCRYPTION_KEY", "too-short"),
            (
                "FARO_ENCRYPTION_KEY_PREVIOUS",
                "s3cr3t with spaces, long enough to be a key",
            ),
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

        let c = config(&[URL, ("FARO_DEEPSEEK_API_KEY", "sk-deepseek-s3cr3t")]).expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert_eq!(
            c.deepseek.api_key.as_ref().map(|k| k.expose()),
            Some("sk-deepseek-s3cr3t")
        );
    }

    #[test]
    fn the_encryption_key_is_required_checked_and_never_shown() {
        let map: HashMap<String, String> = [URL]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = Config::from_lookup(|k| map.get(k).cloned()).expect_err("required");
        assert_eq!(err.var(), "FARO_ENCRYPTION_KEY");
        assert!(err.to_string().contains("openssl rand -base64 32"), "{err}");

        let placeholder = "s3cr3t".repeat(8);
        let err = config(&[URL, ("FARO_ENCRYPTION_KEY", &placeholder)]).expect_err("weak");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");

        let c = config(&[URL]).expect("valid");
        assert_eq!(c.encryption.key.expose(), KEY.1);
        assert!(c.encryption.previous.is_none());
        for absent in ["", "none", " none "] {
            let c = config(&[URL, ("FARO_ENCRYPTION_KEY_PREVIOUS", absent)]).expect("valid");
            assert!(c.encryption.previous.is_none(), "{absent:?}");
        }
        let previous = "s3cr3tOLD/0123456789abcdefghijklmnopqrstuvw=";
        let c = config(&[URL, ("FARO_ENCRYPTION_KEY_PREVIOUS", previous)]).expect("valid");
        assert_eq!(
            c.encryption.previous.as_ref().map(|k| k.expose()),
            Some(previous)
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn external_services_default_to_the_real_ones_without_keys() {
        let c = config(&[URL]).expect("valid");
        assert_eq!(c.deepseek.service.base_url, "https://api.deepseek.com");
        assert_eq!(c.sleakops.base_url, "https://api.sleakops.com/api/");
        assert!(c.deepseek.api_key.is_none());
        assert!(!c.deepseek.service.is_simulated("api.deepseek.com"));
        assert!(!c.sleakops.is_simulated("api.sleakops.com"));
        assert!(c.worker.enabled);
        assert_eq!(c.deepseek.model, "deepseek-chat");

        let c = config(&[
            URL,
            ("FARO_SLEAKOPS_BASE_URL", "http://127.0.0.1:4010/api/"),
            ("FARO_DEEPSEEK_API_KEY", ""),
        ])
        .expect("valid");
        assert!(c.sleakops.is_simulated("api.sleakops.com"));
        assert!(c.deepseek.api_key.is_none(), "empty is unset");
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
    fn database_tls_is_verified_when_deployed_and_opportunistic_on_a_laptop() {
        let tls = |pairs: &[(&str, &str)]| config(pairs).map(|c| c.database.tls);
        let verified = DatabaseTls::Configured {
            mode: TlsMode::VerifyIdentity,
            ca_file: None,
        };
        assert_eq!(tls(&[URL]), Ok(verified));
        for env in ["dev", "test"] {
            let local = tls(&[URL, ("FARO_ENV", env)]).expect("valid");
            assert!(
                matches!(local, DatabaseTls::Configured { mode, .. } if mode == TlsMode::Preferred),
                "{env}: {local:?}"
            );
        }

        let bundle =
            std::env::temp_dir().join(format!("faro-config-ca-{}.pem", std::process::id()));
        std::fs::write(&bundle, "-----BEGIN CERTIFICATE-----\n").expect("write");
        let path = bundle.to_string_lossy().into_owned();
        let c = config(&[
            URL,
            ("FARO_DATABASE_TLS", "verify-identity"),
            ("FARO_DATABASE_CA_FILE", &path),
        ])
        .expect("valid");
        assert_eq!(
            c.database.url_with_tls(),
            format!(
                "mysql://faro:s3cr3t@db.internal:3306/faro?ssl-mode=verify-identity&ssl-ca={}",
                path.replace('/', "%2F")
            )
        );
        let err = config(&[
            URL,
            ("FARO_DATABASE_TLS", "preferred"),
            ("FARO_DATABASE_CA_FILE", &path),
        ])
        .expect_err("a CA nothing checks");
        assert_eq!(err.var(), "FARO_DATABASE_CA_FILE");
        std::fs::remove_file(&bundle).expect("clean up");
        let err = config(&[URL, ("FARO_DATABASE_CA_FILE", &path)]).expect_err("gone");
        assert!(err.to_string().contains("not a file"), "{err}");
        let err = config(&[URL, ("FARO_DATABASE_TLS", "verify_identity")]).expect_err("spelling");
        assert!(err.to_string().contains("verify-identity"), "{err}");

        // A URL that says how to use TLS keeps its word, and may not be contradicted.
        let own = (
            "DATABASE_URL",
            "mysql://faro:s3cr3t@db.internal:3306/faro?ssl-mode=disabled",
        );
        assert_eq!(tls(&[own]), Ok(DatabaseTls::FromUrl));
        assert_eq!(
            config(&[own]).expect("valid").database.url_with_tls(),
            own.1
        );
        let err = config(&[own, ("FARO_DATABASE_TLS", "verify-identity")]).expect_err("both");
        assert_eq!(err.var(), "FARO_DATABASE_TLS");
        assert!(err.to_string().contains("not both"), "{err}");
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
    fn every_variable_the_list_gives_config_is_read() {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_string());
            [URL, KEY]
                .into_iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.to_string())
        })
        .expect("valid");
        let listed: std::collections::BTreeSet<String> = var::ALL
            .iter()
            .filter(|v| v.read_by == var::ReadBy::Config)
            .map(|v| v.name.to_string())
            .collect();
        assert_eq!(asked.into_inner(), listed);
    }

    #[test]
    fn every_default_and_listed_choice_is_valid_in_every_environment() {
        let var::Accepts::OneOf(envs) = var::FARO_ENV.accepts else {
            panic!("FARO_ENV lists its environments");
        };
        for env in envs {
            let c = config(&[URL, ("FARO_ENV", *env)]).expect(env);
            assert_eq!(format!("{:?}", c.env).to_lowercase(), *env);
            for listed in var::ALL {
                let var::Accepts::OneOf(words) = listed.accepts else {
                    continue;
                };
                for word in words {
                    config(&[URL, ("FARO_ENV", *env), (listed.name, *word)])
                        .unwrap_or_else(|e| panic!("{}={word}: {e}", listed.name));
                }
            }
        }
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
