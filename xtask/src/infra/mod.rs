//! The CloudFormation of `infra/`: its stack list and environment files, and the checks that
//! `cargo xtask test` runs on it (cfn-lint, our cfn-guard rules with their fixtures).
//!
//! - `infra/stacks.json`: the stacks in deployment order, each with its template.
//! - `infra/env/<environment>.json`: parameter values per stack, plus the usage assumptions of
//!   the cost model (`cargo xtask cost`).
//! - `infra/rules/<rule>.guard`: one cfn-guard rule per file, with
//!   `infra/rules/fixtures/<rule>/{pass,fail}.yaml` proving the rule can pass and can fail.
//!
//! How the stacks fit together (imports, parameters, the names the backend reads) is checked by
//! the unit tests in `fit.rs`.

#[cfg(test)]
mod fit;
mod guard;
pub mod tools;
pub mod yaml;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::Hint;
use crate::workspace::Workspace;

pub use guard::guard;
pub use tools::{MOTO, lint, nextest, python_tool};

/// `infra/stacks.json`. Some fields are for the deploy command only.
#[allow(
    dead_code,
    reason = "the deploy command reads the stack names, tags and capabilities"
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub stack_name_pattern: String,
    pub tags: BTreeMap<String, String>,
    pub stacks: Vec<StackEntry>,
}

#[allow(
    dead_code,
    reason = "the deploy command reads the stack names, tags and capabilities"
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackEntry {
    pub name: String,
    /// Relative to `infra/`.
    pub template: String,
    pub capabilities: Vec<String>,
    /// Holds data: replacing or deleting it loses state.
    pub stateful: bool,
    /// Parameters the deploy command supplies (the image tag), absent from the env files.
    pub deploy_parameters: Vec<String>,
}

/// `infra/env/<name>.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvFile {
    pub environment: String,
    pub region: String,
    /// Stack name → parameter name → value (CloudFormation takes every value as a string).
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
    /// Traffic and volume assumptions of the cost model.
    pub usage: BTreeMap<String, f64>,
}

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
        match self {
            Self::Read { .. } => None,
            Self::Parse { path, .. } => Some(format!("fix {}", path.display())),
            Self::UnknownEnv { known, .. } => Some(format!(
                "use one of {known}, or add infra/env/<name>.json (copy infra/env/staging.json)"
            )),
        }
    }
}

/// The `infra/` folder of the workspace.
pub fn dir(ws: &Workspace) -> PathBuf {
    ws.root.join("infra")
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    serde_json::from_str(&read(path)?).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub fn manifest(infra: &Path) -> Result<Manifest, Error> {
    parse_json(&infra.join("stacks.json"))
}

/// Names of the environments that have a parameter file, sorted.
pub fn env_names(infra: &Path) -> Result<Vec<String>, Error> {
    let dir = infra.join("env");
    let entries = fs::read_dir(&dir).map_err(|source| Error::Read {
        path: dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The parameter file of environment `name`; an unknown name lists the known ones.
pub fn env_file(infra: &Path, name: &str) -> Result<EnvFile, Error> {
    let known = env_names(infra)?;
    if !known.iter().any(|k| k == name) {
        return Err(Error::UnknownEnv {
            name: name.to_string(),
            known: known.join(", "),
        });
    }
    parse_json(&infra.join("env").join(format!("{name}.json")))
}

/// A template as JSON, short-form tags expanded.
pub fn template(infra: &Path, file: &str) -> Result<Value, Error> {
    let path = infra.join(file);
    yaml::parse_template(&read(&path)?).map_err(|reason| Error::Parse { path, reason })
}

/// The paths of the templates, in deployment order.
pub fn template_paths(infra: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(manifest(infra)?
        .stacks
        .iter()
        .map(|s| infra.join(&s.template))
        .collect())
}

/// Why an infra check failed, and what to do about it.
#[derive(Debug)]
pub struct CheckError {
    pub why: String,
    pub hint: Option<String>,
}

impl CheckError {
    fn new(why: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            hint: Some(hint.into()),
        }
    }
}

impl<E: std::error::Error + Hint> From<E> for CheckError {
    fn from(e: E) -> Self {
        Self {
            why: e.to_string(),
            hint: e.hint(),
        }
    }
}
