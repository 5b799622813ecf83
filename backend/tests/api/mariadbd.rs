//! A MariaDB server of one test alone: Debian's `mariadbd` on a free port, with a data folder
//! of its own made by `mariadb-install-db`, serving TLS with the certificate the test gives it
//! (the shared test server has no TLS, and a test must not change what it serves).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection, mysql::MySqlConnectOptions, mysql::MySqlSslMode};

/// How long `mariadbd` may take to accept connections on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Small InnoDB files, so installing takes seconds and a few megabytes.
const SMALL: [&str; 2] = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"];

/// A running `mariadbd`; stopped, and its folder removed, when dropped.
pub struct PrivateMariaDb {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

/// Where Debian puts a MariaDB program (`/usr/sbin` is not on every user's PATH).
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is missing: `apt-get install -y mariadb-server` installs it")
        })
}

/// The user this process runs as, for `mariadbd --user` (which refuses root without it).
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl PrivateMariaDb {
    /// Installs a data folder and starts `mariadbd` serving TLS with `cert` and `key` (PEM),
    /// with `root` allowed in without a password over TCP.
    pub async fn start(cert: &str, key: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "faro-mariadbd-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a folder for mariadbd");
        let user = current_user();
        let install = Command::new(program("mariadb-install-db"))
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .args(SMALL)
            .arg(format!("--user={user}"))
            .arg(format!("--datadir={}", dir.join("data").display()))
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            install.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        write_certificate(&dir, cert, key);
        let port = faro_testkit::app::closed_port();
        let child = Self::spawn(&dir, &user, port);
        let mut server = Self { child, dir, port };
        server.wait_until_ready().await;
        server
    }

    fn spawn(dir: &Path, user: &str, port: u16) -> Child {
        let log = std::fs::File::create(dir.join("mariadbd.log")).expect("a log file");
        Command::new(program("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--user={user}"))
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("mariadbd.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .args(["--bind-address=127.0.0.1", "--skip-log-bin"])
            .args(SMALL)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--ssl-cert={}",
                dir.join("server-cert.pem").display()
            ))
            .arg(format!(
                "--ssl-key={}",
                dir.join("server-key.pem").display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("mariadbd starts")
    }

    /// Options of a connection as `root` that does not look at the certificate, for the
    /// test's own statements.
    fn admin(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("root")
            .ssl_mode(MySqlSslMode::Disabled)
    }

    async fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(conn) = self.admin().connect().await {
                let _ = conn.close().await;
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mariadbd exited ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "mariadbd did not answer within {} s:\n{}",
                START_TIMEOUT.as_secs(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mariadbd.log")).unwrap_or_default()
    }

    /// Serves `cert` and `key` from now on (`FLUSH SSL` reloads them).
    pub async fn serve(&self, cert: &str, key: &str) {
        write_certificate(&self.dir, cert, key);
        self.execute("FLUSH SSL").await;
    }

    /// Writes `contents` to a file `name` in this server's folder (gone with it); its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {name}: {e}"));
        path
    }

    /// Runs `sql` as `root`.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.admin().connect().await.expect("root connects");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }
}

fn write_certificate(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("server-cert.pem"), cert).expect("write the certificate");
    std::fs::write(dir.join("server-key.pem"), key).expect("write the key");
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
