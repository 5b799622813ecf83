//! The backend's `FARO_ENCRYPTION_KEY` on this machine. `cargo xtask dev` keeps one in
//! `target/faro-dev/encryption-key` (mode 0600), made on first use, so the SleakOps keys sealed
//! in its database open across restarts; the bench's databases are new on each run, so it takes
//! a fresh key each time.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::Error;

/// 32 random bytes as 64 hex digits: a value the backend accepts as it is.
pub fn fresh() -> String {
    let mut bytes = [0u8; 32];
    getrandom04::fill(&mut bytes).expect("the operating system provides random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key kept in `path`, made and written (readable by its owner only) when missing.
pub fn kept(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let key = fresh();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    writeln!(file, "{key}").map_err(io)?;
    eprintln!(
        "xtask: made the dev encryption key {} (the SleakOps keys in faro_dev open with it only)",
        path.display()
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_kept_key_is_made_once_for_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("xtask-kek-{}", std::process::id()));
        let path = dir.join("faro-dev").join("encryption-key");
        let first = kept(&path).expect("made");
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
        assert_eq!(kept(&path).expect("read"), first);
        let mode = fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(fresh(), first);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
