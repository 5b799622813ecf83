//! Where xtask keeps what it fetches once (DynamoDB Local, the infra tools, binaryen).

use std::path::{Path, PathBuf};

/// `${XDG_CACHE_HOME:-$HOME/.cache}/faro`; `None` when neither names a folder. A relative
/// `XDG_CACHE_HOME` is ignored, as the XDG spec asks.
pub fn faro_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Path::new(&home).join(".cache"),
            _ => return None,
        },
    };
    Some(base.join("faro"))
}
