//! Checks of what the machine must have, each failing with one line and the command that fixes it.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Hint;

/// The command that starts the machine's MariaDB when it is installed but not running.
pub const START_MARIADB: &str =
    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("java is not installed (DynamoDB Local runs on Java 17+)")]
    JavaMissing,
    #[error("npm is not installed (it fetches DynamoDB Local, once)")]
    NpmMissing,
    #[error("port {port} on 127.0.0.1 is already in use")]
    PortBusy { port: u16, change: String },
    #[error("could not check whether port {port} is free: {source}")]
    PortCheck { port: u16, source: io::Error },
    #[error("MySQL does not answer at {tried}")]
    MysqlUnreachable { tried: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::JavaMissing => "apt-get install -y openjdk-17-jre-headless".into(),
            Self::NpmMissing => "apt-get install -y npm".into(),
            Self::PortBusy { port, change } => format!(
                "stop what listens there (`ss -ltnp 'sport = :{port}'` shows it) or use another port: {change}"
            ),
            Self::PortCheck { .. } => return None,
            Self::MysqlUnreachable { .. } => {
                let start = if Path::new("/usr/sbin/mariadbd").exists() {
                    format!("start MariaDB: `{START_MARIADB}`")
                } else {
                    format!(
                        "install and start MariaDB: `apt-get install -y mariadb-server && {START_MARIADB}`"
                    )
                };
                format!(
                    "{start}, or set DATABASE_URL=mysql://USER:PASSWORD@HOST:PORT to a server that runs"
                )
            }
        })
    }
}

/// The executable `name` on PATH (or in `extra` folders), like `which`.
pub fn find_program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `java`, from PATH or `$JAVA_HOME/bin`.
pub fn java() -> Result<PathBuf, Error> {
    let java_home = std::env::var("JAVA_HOME")
        .ok()
        .map(|home| format!("{home}/bin"));
    let extra: Vec<&str> = java_home.as_deref().into_iter().collect();
    find_program("java", &extra).ok_or(Error::JavaMissing)
}

pub fn npm() -> Result<PathBuf, Error> {
    find_program("npm", &[]).ok_or(Error::NpmMissing)
}

/// Fails when something already listens on 127.0.0.1:`port`; `change` says how to pick another.
pub fn port_free(port: u16, change: &str) -> Result<(), Error> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(Error::PortBusy {
            port,
            change: change.to_string(),
        }),
        Err(source) => Err(Error::PortCheck { port, source }),
    }
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read the port, let go).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_port_is_named_with_a_way_out() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = port_free(port, "FARO_PORT=8081 cargo xtask dev").unwrap_err();
        assert!(err.to_string().contains(&port.to_string()));
        assert!(err.hint().unwrap().contains("FARO_PORT=8081"));
        drop(listener);
        port_free(port, "").unwrap();
    }

    #[test]
    fn finds_programs() {
        assert!(find_program("sh", &[]).is_some());
        assert!(find_program("surely-not-installed-xtask", &[]).is_none());
    }
}
