//! The stacks of an environment as `infra/` describes them: `stacks.json` (order, templates,
//! capabilities, which stacks hold data) and `env/<name>.json` (parameter values).
//!
//! xtask reads the same files for its checks and cost model; this is the deploy's typed view.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    #[error("no parameters file for environment `{name}` (infra/env/{name}.json); known: {known}")]
    UnknownEnv { name: String, known: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Read { .. } => "run from the Faro checkout (or pass --infra-dir)".into(),
            Self::Parse { path, .. } => format!("fix {}", path.display()),
            Self::UnknownEnv { known, .. } => format!(
                "use one of {known}, or create infra/env/<name>.json from infra/env/staging.json"
            ),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub stack_name_pattern: String,
    pub tags: BTreeMap<String, String>,
    pub stacks: Vec<StackEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackEntry {
    pub name: String,
    pub template: String,
    pub capabilities: Vec<String>,
    pub stateful: bool,
    pub deploy_parameters: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvFile {
    pub environment: String,
    pub region: String,
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
}

/// `infra/` and one environment of it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub dir: PathBuf,
    pub name: String,
    pub manifest: Manifest,
    pub file: EnvFile,
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    serde_json::from_str(&read(path)?).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl Environment {
    pub fn load(dir: &Path, name: &str) -> Result<Self, Error> {
        let manifest: Manifest = parse(&dir.join("stacks.json"))?;
        let path = dir.join("env").join(format!("{name}.json"));
        if !path.is_file() {
            let mut known: Vec<String> = fs::read_dir(dir.join("env"))
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .strip_suffix(".json")
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default();
            known.sort();
            return Err(Error::UnknownEnv {
                name: name.to_string(),
                known: known.join(", "),
            });
        }
        let file: EnvFile = parse(&path)?;
        if file.environment != name {
            return Err(Error::Parse {
                path,
                reason: format!(
                    "`environment` says `{}`, the file name `{name}`",
                    file.environment
                ),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            manifest,
            file,
        })
    }

    /// `faro-<env>-<stack>`.
    pub fn stack_name(&self, stack: &str) -> String {
        self.manifest
            .stack_name_pattern
            .replace("{environment}", &self.name)
            .replace("{stack}", stack)
    }

    pub fn template_body(&self, stack: &StackEntry) -> Result<String, Error> {
        read(&self.dir.join(&stack.template))
    }

    /// Parameter values of the env file for `stack`.
    pub fn parameters(&self, stack: &str) -> BTreeMap<String, String> {
        self.file.parameters.get(stack).cloned().unwrap_or_default()
    }

    /// The tags every stack gets: the manifest's plus `Environment`.
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.manifest.tags.clone();
        tags.insert("Environment".into(), self.name.clone());
        tags
    }

    /// An export name of this environment: `faro-<env>-<suffix>`.
    pub fn export(&self, suffix: &str) -> String {
        format!("faro-{}-{suffix}", self.name)
    }

    pub fn stack(&self, name: &str) -> Option<&StackEntry> {
        self.manifest.stacks.iter().find(|s| s.name == name)
    }
}

/// Values the shipped env files carry until someone sets real ones (docs/operations.md).
pub fn is_placeholder(value: &str) -> bool {
    value.contains("EXAMPLE") || value == "example.com" || value.ends_with(".example.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infra() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra")
    }

    #[test]
    fn loads_the_real_environments() {
        let env = Environment::load(&infra(), "staging").unwrap();
        assert_eq!(env.stack_name("network"), "faro-staging-network");
        assert_eq!(env.manifest.stacks.first().unwrap().name, "network");
        assert!(
            env.stack("service")
                .unwrap()
                .deploy_parameters
                .contains(&"ImageTag".to_string())
        );
        assert_eq!(env.tags().get("Environment").unwrap(), "staging");
        let err = Environment::load(&infra(), "nope").unwrap_err();
        assert!(err.to_string().contains("production, staging"), "{err}");
        assert!(err.hint().is_some());
    }

    #[test]
    fn placeholders() {
        assert!(is_placeholder("Z0000000000000EXAMPLE"));
        assert!(is_placeholder("staging.faro.example.com"));
        assert!(!is_placeholder("faro.dev"));
    }
}
