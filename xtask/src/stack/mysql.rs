//! Finding a MySQL server that answers, or starting a private MariaDB when none does, and dropping
//! the databases a run created.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::prereq::{self, START_MARIADB, find_program};
use crate::workspace::Workspace;
use crate::{Hint, proc};

/// The server tried when `DATABASE_URL` is unset or does not answer.
pub const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306";
/// Where `mariadbd`, `mysqld` and friends live on Debian when `/usr/sbin` is not on PATH.
const SBIN: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"];
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const PRIVATE_START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("DATABASE_URL is not a MySQL URL: {0}")]
    BadDatabaseUrl(String),
    #[error(transparent)]
    Prereq(#[from] prereq::Error),
    #[error(
        "no MySQL answers, and neither mariadb-install-db nor mysql_install_db is installed to set up a private one"
    )]
    NoInstallDb,
    #[error("could not initialize a MariaDB data directory in {dir}: {detail}")]
    Init { dir: String, detail: String },
    #[error("the private MariaDB did not start: {detail}")]
    Start { detail: String, log: String },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Proc(#[from] proc::Error),
    #[error("the MySQL client failed ({status}): {stderr}")]
    Client { status: String, stderr: String },
    #[error("neither the `mariadb` nor the `mysql` command-line client is installed")]
    NoClient,
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::BadDatabaseUrl(_) => format!(
                "use the form mysql://USER:PASSWORD@HOST:3306, or unset DATABASE_URL to use {DEFAULT_URL}"
            ),
            Self::Prereq(e) => return e.hint(),
            Self::NoInstallDb => "apt-get install -y mariadb-server".into(),
            Self::Init { dir, .. } => {
                format!("remove the half-made data directory and try again: `rm -rf {dir}`")
            }
            Self::Start { log, .. } => format!(
                "its log is {log}; or start the machine's MariaDB instead: `{START_MARIADB}`"
            ),
            Self::Proc(e) => return e.hint(),
            Self::NoClient => "apt-get install -y mariadb-client".into(),
            Self::Io { .. } | Self::Client { .. } => return None,
        })
    }
}

/// A parsed `mysql://user[:password]@host[:port][/database][?params]` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlUrl {
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    /// Everything after `?`, kept as it was.
    pub params: Option<String>,
}

impl MysqlUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or("it must start with mysql://")?;
        let (rest, params) = match rest.split_once('?') {
            Some((rest, params)) => (rest, Some(params.to_string())),
            None => (rest, None),
        };
        let (authority, database) = match rest.split_once('/') {
            Some((authority, db)) if !db.is_empty() => (authority, Some(percent_decode(db)?)),
            Some((authority, _)) => (authority, None),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (percent_decode(user)?, Some(percent_decode(password)?)),
                None => (percent_decode(info)?, None),
            },
            None => ("root".to_string(), None),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("it names no host".into());
        }
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{port}` is not a port number"))?,
            None => 3306,
        };
        Ok(Self {
            user: if user.is_empty() { "root".into() } else { user },
            password: password.filter(|p| !p.is_empty()),
            host: host.to_string(),
            port,
            database,
            params,
        })
    }

    /// The same server, without a database.
    pub fn server(&self) -> Self {
        Self {
            database: None,
            ..self.clone()
        }
    }

    pub fn with_database(&self, database: &str) -> Self {
        Self {
            database: Some(database.to_string()),
            ..self.clone()
        }
    }

    /// The URL with its password, for the environment of the programs that connect.
    pub fn to_url(&self) -> String {
        self.render(true)
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        self.render(false)
    }

    fn render(&self, with_password: bool) -> String {
        let mut url = format!("mysql://{}", percent_encode(&self.user));
        if let (Some(password), true) = (&self.password, with_password) {
            url.push(':');
            url.push_str(&percent_encode(password));
        }
        url.push('@');
        if self.host.contains(':') {
            url.push_str(&format!("[{}]", self.host));
        } else {
            url.push_str(&self.host);
        }
        url.push_str(&format!(":{}", self.port));
        if let Some(database) = &self.database {
            url.push('/');
            url.push_str(&percent_encode(database));
        }
        if let Some(params) = &self.params {
            url.push('?');
            url.push_str(params);
        }
        url
    }
}

impl fmt::Display for MysqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for MysqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MysqlUrl({})", self.redacted())
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8 once decoded"))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a MySQL server answers at `url`: a TCP connection within the timeout AND a protocol-10
/// handshake packet from the server. `Ok` carries the server's version.
pub fn probe(url: &MysqlUrl, timeout: Duration) -> Result<String, String> {
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?;
    let mut why = format!("{} resolves to no address", url.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(mut stream) => return read_handshake(&mut stream, timeout),
            Err(e) => why = e.to_string(),
        }
    }
    Err(why)
}

fn read_handshake(stream: &mut TcpStream, timeout: Duration) -> Result<String, String> {
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut header = [0u8; 4];
    stream
        .read_exact(&mut header)
        .map_err(|e| format!("no handshake from the server ({e})"))?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len == 0 || len > 64 * 1024 {
        return Err("not a MySQL server (bad first packet)".into());
    }
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .map_err(|e| format!("incomplete handshake ({e})"))?;
    parse_handshake(&payload)
}

/// The first packet's payload: 0x0a (protocol 10) and the server version, or 0xff and an error.
pub fn parse_handshake(payload: &[u8]) -> Result<String, String> {
    match payload.first() {
        Some(0x0a) => {
            let version = payload[1..].split(|&b| b == 0).next().unwrap_or_default();
            let version = String::from_utf8_lossy(version);
            // MariaDB prefixes its version with "5.5.5-" for the sake of old MySQL clients.
            Ok(version
                .strip_prefix("5.5.5-")
                .unwrap_or(&version)
                .to_string())
        }
        Some(0xff) if payload.len() >= 3 => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            let mut message = &payload[3..];
            if message.first() == Some(&b'#') && message.len() >= 6 {
                message = &message[6..];
            }
            Err(format!(
                "the server refused the connection: {} (error {code})",
                String::from_utf8_lossy(message)
            ))
        }
        _ => Err("not a MySQL server (no protocol-10 handshake)".into()),
    }
}

/// A MySQL server that answers, and the private instance behind it when xtask started one.
#[derive(Debug)]
pub struct Mysql {
    /// The server, without a database.
    pub url: MysqlUrl,
    pub version: String,
    pub private: Option<proc::Child>,
}

/// `DATABASE_URL` if it answers, else [`DEFAULT_URL`], else a private MariaDB in
/// `target/faro-mysql` when `mariadbd` or `mysqld` is installed.
pub fn find_or_start(ws: &Workspace) -> Result<Mysql, Error> {
    let mut tried = Vec::new();
    if let Ok(raw) = std::env::var("DATABASE_URL")
        && !raw.trim().is_empty()
    {
        let url = MysqlUrl::parse(raw.trim()).map_err(Error::BadDatabaseUrl)?;
        match probe(&url, PROBE_TIMEOUT) {
            Ok(version) => return Ok(found(url, version)),
            Err(why) => {
                eprintln!("xtask: DATABASE_URL ({url}) does not answer: {why}");
                tried.push(format!("{url} ({why})"));
            }
        }
    }
    let default = MysqlUrl::parse(DEFAULT_URL).expect("DEFAULT_URL parses");
    match probe(&default, PROBE_TIMEOUT) {
        Ok(version) => return Ok(found(default, version)),
        Err(why) => tried.push(format!("{default} ({why})")),
    }
    let Some(server) = find_program("mariadbd", SBIN).or_else(|| find_program("mysqld", SBIN))
    else {
        return Err(prereq::Error::MysqlUnreachable {
            tried: tried.join(" and "),
        }
        .into());
    };
    eprintln!("xtask: no MySQL answers at {}", tried.join(" or "));
    start_private(ws, &server)
}

fn found(url: MysqlUrl, version: String) -> Mysql {
    Mysql {
        url: url.server(),
        version,
        private: None,
    }
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

fn start_private(ws: &Workspace, server: &Path) -> Result<Mysql, Error> {
    let base = ws.target.join("faro-mysql");
    let data = base.join("data");
    fs::create_dir_all(&base).map_err(io_error(format!("creating {}", base.display())))?;
    if !data.join("mysql").is_dir() {
        initialize(ws, &base, &data)?;
    }
    let port = prereq::free_port().map_err(io_error("finding a free port"))?;
    let log = base.join("mariadbd.log");
    let _ = fs::remove_file(&log);
    eprintln!(
        "xtask: starting a private MariaDB on 127.0.0.1:{port} (data in {})",
        ws.display(&data)
    );
    let mut cmd = Command::new(server);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket_path(&base).display()))
        .arg(format!(
            "--pid-file={}",
            base.join("mariadbd.pid").display()
        ))
        .arg(format!("--log-error={}", log.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--skip-networking=0");
    if running_as_root() {
        // mariadbd refuses to run as root unless told to.
        cmd.arg("--user=root");
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // A clean InnoDB shutdown can take a while; killing it only costs a recovery at next start.
    let mut child = proc::spawn("MariaDB (private)", &mut cmd, Duration::from_secs(30))?;
    let url = MysqlUrl::parse(&format!("mysql://root@127.0.0.1:{port}")).expect("valid URL");
    let started = Instant::now();
    let log_name = ws.display(&log).to_string();
    loop {
        if let Some(status) = child.try_status()? {
            return Err(Error::Start {
                detail: format!(
                    "it exited ({}); its last lines:\n{}",
                    proc::describe(status),
                    super::tail(&log, 10)
                ),
                log: log_name,
            });
        }
        if let Ok(version) = probe(&url, PROBE_TIMEOUT) {
            eprintln!(
                "xtask: private MariaDB {version} ready in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(Mysql {
                url,
                version,
                private: Some(child),
            });
        }
        if started.elapsed() > PRIVATE_START_TIMEOUT {
            return Err(Error::Start {
                detail: format!(
                    "no answer within {} s; its last lines:\n{}",
                    PRIVATE_START_TIMEOUT.as_secs(),
                    super::tail(&log, 10)
                ),
                log: log_name,
            });
        }
        proc::sleep(Duration::from_millis(100))?;
    }
}

/// Unix socket paths are limited to 108 bytes; deep checkouts fall back to the temp dir.
fn socket_path(base: &Path) -> PathBuf {
    let path = base.join("mysql.sock");
    if path.as_os_str().len() < 100 {
        path
    } else {
        std::env::temp_dir().join(format!("faro-mysql-{}.sock", std::process::id()))
    }
}

/// Creates a data directory in a temporary folder, then renames it into place, so that an
/// interrupted initialization never looks like a finished one.
fn initialize(ws: &Workspace, base: &Path, data: &Path) -> Result<(), Error> {
    let tool = find_program("mariadb-install-db", SBIN)
        .or_else(|| find_program("mysql_install_db", SBIN))
        .ok_or(Error::NoInstallDb)?;
    let partial = base.join("data.partial");
    let _ = fs::remove_dir_all(&partial);
    let log = base.join("install-db.log");
    let log_file =
        fs::File::create(&log).map_err(io_error(format!("creating {}", log.display())))?;
    let err_file = log_file
        .try_clone()
        .map_err(io_error("duplicating a file handle"))?;
    eprintln!(
        "xtask: initializing a MariaDB data directory in {}",
        ws.display(data)
    );
    let mut cmd = Command::new(&tool);
    cmd.arg("--no-defaults")
        .arg("--auth-root-authentication-method=normal")
        .arg(format!("--datadir={}", partial.display()))
        .arg("--skip-test-db")
        .stdout(log_file)
        .stderr(err_file);
    let status = proc::status("mariadb-install-db", &mut cmd)?;
    let dir = ws.display(data).to_string();
    if !status.success() {
        return Err(Error::Init {
            dir,
            detail: format!(
                "{}; its last lines:\n{}",
                proc::describe(status),
                super::tail(&log, 10)
            ),
        });
    }
    fs::rename(&partial, data).map_err(|e| Error::Init {
        dir,
        detail: e.to_string(),
    })
}

/// A LIKE pattern (with `\` as escape) matching the names that start with `prefix`.
pub fn like_prefix(prefix: &str) -> String {
    let mut pattern = like_exact(prefix);
    pattern.push('%');
    pattern
}

/// A LIKE pattern (with `\` as escape) matching `name` only.
pub fn like_exact(name: &str) -> String {
    let mut pattern = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if matches!(c, '\\' | '_' | '%') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// `s` as the inside of a single-quoted SQL string.
fn sql_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "''")
}

/// `name` as a backquoted SQL identifier.
fn sql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Drops every database whose name is LIKE `pattern` (`\` escapes) with the `mariadb` or `mysql`
/// command-line client; returns the names dropped. Without a client it says so and skips.
pub fn drop_databases_like(server: &MysqlUrl, pattern: &str) -> Result<Vec<String>, Error> {
    let Some(client) = find_program("mariadb", &[]).or_else(|| find_program("mysql", &[])) else {
        eprintln!(
            "xtask: note: no `mariadb` or `mysql` client is installed, so databases LIKE '{pattern}' stay on {server}"
        );
        return Ok(Vec::new());
    };
    let query = format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}'",
        sql_string(pattern)
    );
    let names: Vec<String> = sql(&client, server, &query)?
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(String::from)
        .collect();
    if !names.is_empty() {
        let drops: String = names
            .iter()
            .map(|name| format!("DROP DATABASE IF EXISTS {};", sql_ident(name)))
            .collect();
        sql(&client, server, &drops)?;
    }
    Ok(names)
}

/// Runs `statements` with the `mariadb` or `mysql` client and returns what they printed.
pub fn execute(server: &MysqlUrl, statements: &str) -> Result<String, Error> {
    let client = find_program("mariadb", &[])
        .or_else(|| find_program("mysql", &[]))
        .ok_or(Error::NoClient)?;
    sql(&client, server, statements)
}

fn sql(client: &Path, server: &MysqlUrl, statements: &str) -> Result<String, Error> {
    let mut cmd = Command::new(client);
    cmd.args(["--protocol=TCP", "--connect-timeout=5", "-h", &server.host])
        .args(["-P", &server.port.to_string(), "-u", &server.user])
        .args(["-N", "-B", "-e", statements]);
    // The password goes through the environment, not the command line that `ps` shows.
    match &server.password {
        Some(password) => cmd.env("MYSQL_PWD", password),
        None => cmd.env_remove("MYSQL_PWD"),
    };
    // This is clean-up work: it runs to its end after a Ctrl-C too.
    let output = proc::capture(
        "mariadb",
        &mut cmd,
        proc::OnShutdown::Finish(Duration::from_secs(30)),
    )?;
    if !output.status.success() {
        return Err(Error::Client {
            status: proc::describe(output.status),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> MysqlUrl {
        MysqlUrl::parse(s).unwrap()
    }

    #[test]
    fn parses_full_urls() {
        let u = url("mysql://faro:s%40cret@db.example.com:3307/faro_dev?ssl-mode=disabled");
        assert_eq!(u.user, "faro");
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.host, "db.example.com");
        assert_eq!(u.port, 3307);
        assert_eq!(u.database.as_deref(), Some("faro_dev"));
        assert_eq!(u.params.as_deref(), Some("ssl-mode=disabled"));
        assert_eq!(
            u.to_url(),
            "mysql://faro:s%40cret@db.example.com:3307/faro_dev?ssl-mode=disabled"
        );
        assert_eq!(
            u.redacted(),
            "mysql://faro@db.example.com:3307/faro_dev?ssl-mode=disabled"
        );
        assert!(!format!("{u:?} {u}").contains("cret"), "the password leaks");
    }

    #[test]
    fn parses_short_urls_with_defaults() {
        let u = url("mysql://root@127.0.0.1:3306");
        assert_eq!(
            (u.user.as_str(), u.password.as_deref(), u.port),
            ("root", None, 3306)
        );
        assert_eq!(u.database, None);
        let u = url("mysql://localhost/");
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port, u.database.clone()),
            ("root", "localhost", 3306, None)
        );
        let u = url("mariadb://me:@[::1]:3310/x");
        assert_eq!(
            (u.host.as_str(), u.port, u.password.clone()),
            ("::1", 3310, None)
        );
        assert_eq!(u.to_url(), "mysql://me@[::1]:3310/x");
        // a password with ':' and '@' in it (only the last '@' ends the user info)
        let u = url("mysql://u:p:w@d@h");
        assert_eq!(
            (u.password.as_deref(), u.host.as_str()),
            (Some("p:w@d"), "h")
        );
    }

    #[test]
    fn server_and_database() {
        let u = url("mysql://root@127.0.0.1:3306/faro");
        assert_eq!(u.server().to_url(), "mysql://root@127.0.0.1:3306");
        assert_eq!(
            u.server().with_database("faro_dev").to_url(),
            "mysql://root@127.0.0.1:3306/faro_dev"
        );
    }

    #[test]
    fn rejects_what_is_not_a_mysql_url() {
        for bad in [
            "postgres://x@y/z",
            "127.0.0.1:3306",
            "mysql://root@:3306",
            "mysql://root@host:port",
            "mysql://root@host:0",
            "mysql://root@host:99999",
            "mysql://r%zz@host",
            "mysql://root@[::1:3306",
        ] {
            assert!(MysqlUrl::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn handshake_packets() {
        let mut greeting = vec![0x0a];
        greeting.extend_from_slice(b"10.11.19-MariaDB\0rest of the handshake");
        assert_eq!(parse_handshake(&greeting).unwrap(), "10.11.19-MariaDB");
        let mut mariadb = vec![0x0a];
        mariadb.extend_from_slice(b"5.5.5-10.11.19-MariaDB\0");
        assert_eq!(parse_handshake(&mariadb).unwrap(), "10.11.19-MariaDB");
        let mut refusal = vec![0xff, 0x6a, 0x04];
        refusal.extend_from_slice(b"Host '10.0.0.2' is not allowed to connect");
        let err = parse_handshake(&refusal).unwrap_err();
        assert!(err.contains("not allowed") && err.contains("1130"), "{err}");
        assert!(parse_handshake(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_handshake(b"").is_err());
    }

    #[test]
    fn probe_sees_a_server_that_does_not_speak_mysql() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            io::Write::write_all(&mut conn, b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
        });
        let err = probe(
            &url(&format!("mysql://root@127.0.0.1:{port}")),
            Duration::from_secs(1),
        );
        assert!(err.is_err());
        server.join().unwrap();
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_prefix("faro_t1a2_"), "faro\\_t1a2\\_%");
        assert_eq!(like_exact("faro_bench_x"), "faro\\_bench\\_x");
        assert_eq!(like_exact("50%\\"), "50\\%\\\\");
        assert_eq!(sql_string("faro\\_t'1"), "faro\\\\_t''1");
        assert_eq!(sql_ident("a`b"), "`a``b`");
    }
}
