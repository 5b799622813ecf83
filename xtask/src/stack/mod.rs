//! The local stack the backend needs: a MySQL server and DynamoDB Local.

pub mod dynamodb;
pub mod encryption_key;
pub mod mysql;

use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::workspace::Workspace;
use crate::{Hint, prereq, proc};
use dynamodb::Storage;
use mysql::MysqlUrl;

/// Which command the stack is for; it decides where DynamoDB Local keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tables kept in `target/faro-dev/dynamodb` across restarts.
    Dev,
    /// In memory, quick to start.
    Test,
    /// In memory, with the JVM tuned for throughput.
    Bench,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Bench => "bench",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Prereq(#[from] prereq::Error),
    #[error(transparent)]
    Mysql(#[from] mysql::Error),
    #[error(transparent)]
    DynamoDb(#[from] dynamodb::Error),
    #[error("creating {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Prereq(e) => e.hint(),
            Self::Mysql(e) => e.hint(),
            Self::DynamoDb(e) => e.hint(),
            Self::Io { .. } => None,
        }
    }
}

/// A running stack; stops what it started (in reverse order) when stopped or dropped.
#[derive(Debug)]
pub struct LocalStack {
    /// The MySQL server, without a database.
    pub mysql: MysqlUrl,
    pub mysql_version: String,
    /// Whether xtask started that MySQL itself.
    pub mysql_private: bool,
    /// `http://127.0.0.1:<port>`.
    pub dynamodb: String,
    /// The backend's `FARO_ENCRYPTION_KEY` ([`encryption_key`]).
    encryption_key: String,
    /// In start order.
    children: Vec<proc::Child>,
}

impl LocalStack {
    /// What points a backend on 127.0.0.1:`port` at this stack, with its own `database` and
    /// DynamoDB `table`; each mode adds its own settings (FARO_ENV, logging, migrations).
    pub fn backend_env(&self, database: &str, table: &str, port: u16) -> crate::backend::Env {
        vec![
            ("FARO_HOST", "127.0.0.1".into()),
            ("FARO_PORT", port.to_string()),
            ("DATABASE_URL", self.mysql.with_database(database).to_url()),
            ("FARO_DYNAMODB_TABLE", table.into()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("FARO_CREATE_TABLE", "true".into()),
            ("FARO_SHUTDOWN_DRAIN_SECS", "0".into()),
            ("FARO_ENCRYPTION_KEY", self.encryption_key.clone()),
        ]
    }

    pub fn start(mode: Mode, ws: &Workspace) -> Result<Self, Error> {
        let started = Instant::now();
        let java = prereq::java()?;
        let mut children = Vec::new();

        let encryption_key = match mode {
            Mode::Dev => encryption_key::kept(&ws.target.join("faro-dev").join("encryption-key"))?,
            Mode::Test | Mode::Bench => encryption_key::fresh(),
        };
        let mysql = mysql::find_or_start(ws)?;
        let mysql_private = mysql.private.is_some();
        children.extend(mysql.private);
        let mut stack = Self {
            mysql: mysql.url,
            mysql_version: mysql.version,
            mysql_private,
            dynamodb: String::new(),
            encryption_key,
            children,
        };
        eprintln!(
            "xtask: MySQL {} at {}{}",
            stack.mysql_version,
            stack.mysql,
            if mysql_private { " (private)" } else { "" }
        );

        let logs = ws.target.join("faro-stack");
        fs::create_dir_all(&logs).map_err(|source| Error::Io {
            path: logs.display().to_string(),
            source,
        })?;
        let storage = match mode {
            Mode::Dev => Storage::Persistent(ws.target.join("faro-dev").join("dynamodb")),
            Mode::Test | Mode::Bench => Storage::InMemory,
        };
        let log = logs.join(format!("dynamodb-local.{}.log", mode.name()));
        // On error `stack` drops here, which stops the private MySQL if there is one.
        let dynamodb = dynamodb::start(&java, &storage, &log, mode != Mode::Bench)?;
        stack.dynamodb = dynamodb.endpoint();
        stack.children.push(dynamodb.child);
        eprintln!(
            "xtask: DynamoDB Local at {} ({}); stack up in {:.1} s",
            stack.dynamodb,
            match &storage {
                Storage::InMemory => "in memory".to_string(),
                Storage::Persistent(path) => format!("data in {}", ws.display(path)),
            },
            started.elapsed().as_secs_f64()
        );
        Ok(stack)
    }

    /// Stops everything the stack started, newest first, saying what was stopped.
    pub fn stop(mut self) {
        self.stop_children();
    }

    fn stop_children(&mut self) {
        while let Some(child) = self.children.pop() {
            let name = child.name().to_string();
            let pid = child.pid();
            let outcome = child.stop();
            eprintln!("xtask: {name} (pid {pid}) {outcome}");
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.stop_children();
    }
}

/// The last `n` lines of a log file, indented, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(text) = fs::read(path) else {
        return format!("    (no log at {})", path.display());
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    if tail.is_empty() {
        return "    (the log is empty)".into();
    }
    tail.iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
