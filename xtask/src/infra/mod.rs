//! The CloudFormation of `infra/`: its stack list and environment files, and the checks that
//! `cargo xtask test` runs on it (cfn-lint, our cfn-guard rules with their fixtures, checkov).
//!
//! - `infra/stacks.json` and `infra/env/<environment>.json`: read through `faro-infra-model`
//!   (crates/infra-model), which faro-deploy shares.
//! - `infra/rules/<rule>.guard`: one cfn-guard rule per file, with
//!   `infra/rules/fixtures/<rule>/{pass,fail}.yaml` proving the rule can pass and can fail.
//!
//! How the stacks fit together (imports, parameters, the names the backend reads) is checked by
//! the unit tests in `fit.rs`.

mod checkov;
#[cfg(test)]
mod fit;
mod guard;
pub mod tools;
/// Templates as JSON: parsed in crates/infra-model, which faro-deploy shares (destroy reads the
/// stacks' imports and deletion policies).
pub use faro_infra_model::template as yaml;

use std::path::{Path, PathBuf};

use faro_infra_model::{Error, Manifest, read};
use serde_json::Value;

use crate::Hint;
use crate::workspace::Workspace;

pub use checkov::{CHECKOV, checkov};
pub use guard::guard;
pub use tools::{MOTO, SCHEMATHESIS, lint, nextest, python_tool};

/// The `infra/` folder of the workspace.
pub fn dir(ws: &Workspace) -> PathBuf {
    ws.root.join("infra")
}

/// A template as JSON, short-form tags expanded.
pub fn template(infra: &Path, file: &str) -> Result<Value, Error> {
    let path = infra.join(file);
    yaml::parse_template(&read(&path)?).map_err(|reason| Error::Parse { path, reason })
}

/// The paths of the templates, in deployment order.
pub fn template_paths(infra: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(Manifest::load(infra)?
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
