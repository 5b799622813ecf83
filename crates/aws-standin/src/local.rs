//! moto and Debian's docker-registry as child processes of a test, each on a free port, killed
//! when dropped. The tests find the programs through the `FARO_TEST_*` variables that
//! `cargo xtask test` sets ([`required_var`]).

use std::io;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long a service may take to answer after it was started.
const START_WITHIN: Duration = Duration::from_secs(60);

/// A `FARO_TEST_*` variable that `cargo xtask test` sets for the deploy tests.
///
/// # Panics
/// When it is not set, saying how to run the tests.
pub fn required_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the deploy tests through `cargo xtask test` (it installs moto, the registry and builds the image once)")
    })
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Waits until `ready` holds, polling every 100 ms, for `within` at most.
async fn wait_until<F: Future<Output = bool>>(
    what: &str,
    within: Duration,
    ready: impl Fn() -> F,
) -> io::Result<()> {
    let started = std::time::Instant::now();
    while !ready().await {
        if started.elapsed() > within {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what} did not answer within {within:?}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until something listens on `port`.
pub async fn wait_for_port(port: u16, what: &str) -> io::Result<()> {
    wait_until(what, START_WITHIN, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await
}

/// moto's server, with the patches of `support/moto_server.py`; its log is `<dir>/moto.log`.
#[derive(Debug)]
pub struct Moto {
    pub url: String,
    _child: Child,
}

impl Moto {
    /// Starts moto with `python` (the venv `cargo xtask test` installs) and waits until its own
    /// API answers (listening is not serving yet).
    pub async fn start(python: &Path, dir: &Path) -> io::Result<Self> {
        let port = free_port()?;
        let child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("support/moto_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("moto.log"))?)
            .kill_on_drop(true)
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}");
        let api = format!("{url}/moto-api/data.json");
        wait_until("moto", START_WITHIN, || async {
            reqwest::get(&api)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await?;
        Ok(Self { url, _child: child })
    }
}

/// Debian's OCI registry storing under `<dir>/registry`; its log is `<dir>/registry.log`.
#[derive(Debug)]
pub struct Registry {
    /// `127.0.0.1:<port>`, the host part of an image reference.
    pub host: String,
    pub url: String,
    _child: Child,
}

impl Registry {
    /// Starts `program` (docker-registry), behind HTTP basic auth when `htpasswd` names a
    /// bcrypt password file, and waits until it listens.
    pub async fn start(program: &Path, dir: &Path, htpasswd: Option<&Path>) -> io::Result<Self> {
        let port = free_port()?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("registry").display()
        );
        if let Some(file) = htpasswd {
            config += &format!(
                "auth:\n  htpasswd:\n    realm: faro-test\n    path: {}\n",
                file.display()
            );
        }
        let config_file = dir.join("registry.yml");
        std::fs::write(&config_file, config)?;
        let child = Command::new(program)
            .arg("serve")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log"))?)
            .kill_on_drop(true)
            .spawn()?;
        wait_for_port(port, "docker-registry").await?;
        let host = format!("127.0.0.1:{port}");
        Ok(Self {
            url: format!("http://{host}"),
            host,
            _child: child,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_a_listener() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        wait_for_port(port, "the test listener").await.unwrap();
    }

    #[tokio::test]
    async fn gives_up_in_time_naming_what_it_waited_for() {
        let polls = std::sync::atomic::AtomicU32::new(0);
        let err = wait_until("nothing", Duration::from_millis(250), || async {
            polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("nothing"), "{err}");
        assert!(polls.into_inner() >= 2, "polled until the deadline");
    }
}
