//! The MySQL database: `DATABASE_URL` or its pieces, and the pool.

use super::{
    ConfigError,
    reader::{Vars, invalid, missing, parse_endpoint},
};
use faro_config_vars::{self as var, Var};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub tls: DatabaseTls,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// `FARO_DATABASE_SECRET_ARN`: the secret the user and password come from (the URL then
    /// gives host, port and database), read again when MySQL refuses them.
    pub secret_arn: Option<String>,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`: moto in tests.
    pub secrets_endpoint: Option<String>,
    /// The users `migrate` creates and keeps, when it is given their secrets.
    pub users: Option<UserSecrets>,
}

/// `FARO_DATABASE_APP_SECRET_ARN` and `FARO_DATABASE_MIGRATOR_SECRET_ARN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSecrets {
    pub app: String,
    pub migrator: String,
}

impl DatabaseConfig {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let secret_arn = vars.optional_with(&var::FARO_DATABASE_SECRET_ARN, parse_secret_arn)?;
        let url = database_url(vars, secret_arn.is_some())?;
        let database = Self {
            tls: DatabaseTls::read(vars, &url)?,
            url,
            max_connections: vars.count(&var::FARO_DATABASE_MAX_CONNECTIONS)?,
            min_connections: vars.count(&var::FARO_DATABASE_MIN_CONNECTIONS)?,
            acquire_timeout: vars.duration(&var::FARO_DATABASE_ACQUIRE_TIMEOUT_MS)?,
            secret_arn,
            secrets_endpoint: vars
                .optional_with(&var::AWS_ENDPOINT_URL_SECRETS_MANAGER, parse_endpoint)?,
            users: user_secrets(vars)?,
        };
        if database.min_connections > database.max_connections {
            return Err(ConfigError::Invalid {
                var: var::FARO_DATABASE_MIN_CONNECTIONS.name,
                expected: "at most FARO_DATABASE_MAX_CONNECTIONS".into(),
                reason: format!(
                    "{} is more than {}",
                    database.min_connections, database.max_connections
                ),
            });
        }
        Ok(database)
    }

    /// What the pool connects with: the database, its credentials and the TLS settings.
    pub fn connect_options(&self) -> MySqlConnectOptions {
        let options = self.url.connect_options().clone();
        match &self.tls {
            DatabaseTls::FromUrl => options,
            DatabaseTls::Configured { mode, ca_file } => {
                let options = options.ssl_mode(mode.sqlx());
                match ca_file {
                    Some(path) => options.ssl_ca(path),
                    None => options,
                }
            }
        }
    }

    /// The URL with its password and the TLS settings, for the few sqlx calls that take a
    /// string (creating the database). Never log it.
    pub fn url_with_tls(&self) -> String {
        let raw = self.url.expose();
        let DatabaseTls::Configured { mode, ca_file } = &self.tls else {
            return raw.to_owned();
        };
        let mut url = format!(
            "{raw}{}ssl-mode={}",
            if raw.contains('?') { '&' } else { '?' },
            mode.name()
        );
        if let Some(path) = ca_file {
            let path = path.to_string_lossy();
            url.push_str("&ssl-ca=");
            url.extend(form_urlencoded::byte_serialize(path.as_bytes()));
        }
        url
    }
}

/// How the backend secures its connections to MySQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTls {
    /// As `DATABASE_URL`'s own `ssl-mode` (and `ssl-ca`) say.
    FromUrl,
    /// `FARO_DATABASE_TLS` and `FARO_DATABASE_CA_FILE`.
    Configured {
        mode: TlsMode,
        ca_file: Option<PathBuf>,
    },
}

impl DatabaseTls {
    fn read(vars: &Vars<'_>, url: &DatabaseUrl) -> Result<Self, ConfigError> {
        let given = [var::FARO_DATABASE_TLS, var::FARO_DATABASE_CA_FILE]
            .into_iter()
            .find(|v| vars.get(v).is_some_and(|value| !value.is_empty()));
        if url.sets_tls() {
            return match given {
                None => Ok(Self::FromUrl),
                Some(v) => Err(ConfigError::Invalid {
                    var: v.name,
                    expected: "either ssl-mode in DATABASE_URL or FARO_DATABASE_TLS, not both"
                        .into(),
                    reason: "DATABASE_URL sets ssl-mode or ssl-ca too".into(),
                }),
            };
        }
        let mode = vars.parse_with(&var::FARO_DATABASE_TLS, |v| {
            TlsMode::from_name(v).ok_or_else(|| format!("{v:?} is not a TLS mode"))
        })?;
        let ca_file = vars.optional_with(&var::FARO_DATABASE_CA_FILE, |v| {
            let path = Path::new(v);
            if !path.is_file() {
                return Err(format!("{v:?} is not a file"));
            }
            let pem =
                std::fs::read_to_string(path).map_err(|e| format!("{v:?} cannot be read: {e}"))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(format!("{v:?} holds no PEM certificate"));
            }
            Ok(path.to_path_buf())
        })?;
        if ca_file.is_some() && !mode.verifies() {
            return Err(ConfigError::Invalid {
                var: var::FARO_DATABASE_CA_FILE.name,
                expected: "FARO_DATABASE_TLS=verify-ca or verify-identity beside it".into(),
                reason: format!("FARO_DATABASE_TLS={} verifies no certificate", mode.name()),
            });
        }
        Ok(Self::Configured { mode, ca_file })
    }
}

/// `FARO_DATABASE_TLS`: MySQL's `--ssl-mode`, in the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl TlsMode {
    /// In the order of [`var::DATABASE_TLS_MODES`].
    const ALL: [Self; 5] = [
        Self::Disabled,
        Self::Preferred,
        Self::Required,
        Self::VerifyCa,
        Self::VerifyIdentity,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        let at = var::DATABASE_TLS_MODES.iter().position(|n| *n == name)?;
        Some(Self::ALL[at])
    }

    pub fn name(self) -> &'static str {
        let at = Self::ALL.iter().position(|m| *m == self).unwrap_or(0);
        var::DATABASE_TLS_MODES[at]
    }

    /// Whether the server's certificate is checked against trusted CAs.
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }

    fn sqlx(self) -> MySqlSslMode {
        match self {
            Self::Disabled => MySqlSslMode::Disabled,
            Self::Preferred => MySqlSslMode::Preferred,
            Self::Required => MySqlSslMode::Required,
            Self::VerifyCa => MySqlSslMode::VerifyCa,
            Self::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        }
    }
}

fn parse_secret_arn(v: &str) -> Result<String, String> {
    if v.starts_with("arn:") && v.contains(":secretsmanager:") {
        Ok(v.to_owned())
    } else {
        Err(format!("{v:?} is not the ARN of a Secrets Manager secret"))
    }
}

/// Both user secrets or neither: `migrate` keeps the two users together.
fn user_secrets(vars: &Vars<'_>) -> Result<Option<UserSecrets>, ConfigError> {
    let app = vars.optional_with(&var::FARO_DATABASE_APP_SECRET_ARN, parse_secret_arn)?;
    let migrator = vars.optional_with(&var::FARO_DATABASE_MIGRATOR_SECRET_ARN, parse_secret_arn)?;
    match (app, migrator) {
        (Some(app), Some(migrator)) => Ok(Some(UserSecrets { app, migrator })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(missing(&var::FARO_DATABASE_MIGRATOR_SECRET_ARN)),
        (None, Some(_)) => Err(missing(&var::FARO_DATABASE_APP_SECRET_ARN)),
    }
}

/// The variables that describe the database piece by piece, as ECS fills them from the stacks'
/// exports (a password may hold characters a URL would need escaped).
const PIECES: [Var; 5] = [
    var::FARO_DATABASE_HOST,
    var::FARO_DATABASE_PORT,
    var::FARO_DATABASE_NAME,
    var::FARO_DATABASE_USER,
    var::FARO_DATABASE_PASSWORD,
];

/// `DATABASE_URL`, or the same from `FARO_DATABASE_*` pieces; never both. With a secret, the
/// pieces need no user and password.
fn database_url(vars: &Vars<'_>, secret: bool) -> Result<DatabaseUrl, ConfigError> {
    let piece_given = PIECES
        .iter()
        .find(|piece| vars.get(piece).is_some_and(|v| !v.is_empty()));
    if vars.get(&var::DATABASE_URL).is_none() && piece_given.is_some() {
        let host = vars.required(&var::FARO_DATABASE_HOST)?;
        let name = vars.required(&var::FARO_DATABASE_NAME)?;
        let (user, password) = if secret {
            Default::default()
        } else {
            let user = vars.required(&var::FARO_DATABASE_USER)?;
            let password = vars
                .verbatim(&var::FARO_DATABASE_PASSWORD)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing(&var::FARO_DATABASE_PASSWORD))?;
            (user, password)
        };
        let port = vars.parse(&var::FARO_DATABASE_PORT)?;
        return Ok(DatabaseUrl::from_parts(
            &host, port, &name, &user, &password,
        ));
    }
    if let Some(piece) = piece_given {
        return Err(ConfigError::Invalid {
            var: var::DATABASE_URL.name,
            expected: "either DATABASE_URL or the FARO_DATABASE_* variables, not both".into(),
            reason: format!("{} is set too", piece.name),
        });
    }
    let url = vars.parse_with(&var::DATABASE_URL, DatabaseUrl::parse)?;
    if url.database().is_none() {
        return Err(invalid(&var::DATABASE_URL, "it names no database".into()));
    }
    Ok(url)
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

    /// Whether the URL's query says how to use TLS (`ssl-mode`, `sslmode`, `ssl-ca`…).
    fn sets_tls(&self) -> bool {
        self.raw.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.to_ascii_lowercase().starts_with("ssl"))
        })
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
