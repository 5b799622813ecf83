//! Reading the files of `infra/`, with errors that name the file.

use std::fs;
use std::path::{Path, PathBuf};

use crate::Hint;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("unknown environment `{name}`; known environments: {known}")]
    UnknownEnv { name: String, known: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Read { .. } => {
                "run from the Faro checkout (faro-deploy also takes --infra-dir DIR)".into()
            }
            Self::Parse { path, .. } => format!("fix {}", path.display()),
            Self::UnknownEnv { known, .. } => format!(
                "use one of {known}, or add infra/env/<name>.json (copy infra/env/staging.json)"
            ),
        })
    }
}

/// The text of `path`.
pub fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The JSON file at `path` as a `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    serde_json::from_str(&read(path)?).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
