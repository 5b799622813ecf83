//! `infra/env/<name>.json`: one environment's parameter values and usage assumptions, and the
//! names the manifest gives its stacks and exports.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::files::{Error, read, read_json};
use crate::manifest::{Manifest, StackEntry};

/// `infra/env/<name>.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvFile {
    pub environment: String,
    pub region: String,
    /// Stack name → parameter name → value (CloudFormation takes every value as a string).
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
    /// Traffic and volume assumptions of the cost model (`cargo xtask cost`); the deploy's test
    /// fixtures leave them out.
    #[serde(default)]
    pub usage: BTreeMap<String, f64>,
}

/// Names of the environments that have a parameter file in `<infra>/env`, sorted.
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

impl EnvFile {
    /// The parameter file of environment `name`; an unknown name lists the known ones.
    pub fn load(infra: &Path, name: &str) -> Result<Self, Error> {
        let known = env_names(infra)?;
        if !known.iter().any(|k| k == name) {
            return Err(Error::UnknownEnv {
                name: name.to_string(),
                known: known.join(", "),
            });
        }
        let path = infra.join("env").join(format!("{name}.json"));
        let file: Self = read_json(&path)?;
        if file.environment != name {
            return Err(Error::Parse {
                path,
                reason: format!(
                    "`environment` says `{}`, the file name `{name}`",
                    file.environment
                ),
            });
        }
        Ok(file)
    }
}

/// `infra/` and one environment of it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub dir: PathBuf,
    pub name: String,
    pub manifest: Manifest,
    pub file: EnvFile,
}

impl Environment {
    pub fn load(dir: &Path, name: &str) -> Result<Self, Error> {
        Ok(Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            manifest: Manifest::load(dir)?,
            file: EnvFile::load(dir, name)?,
        })
    }

    /// `faro-<env>-<stack>`.
    pub fn stack_name(&self, stack: &str) -> String {
        self.manifest.stack_name(&self.name, stack)
    }

    pub fn stack(&self, name: &str) -> Option<&StackEntry> {
        self.manifest.stack(name)
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
}

/// Values the shipped env files carry until someone sets real ones (docs/operations.md).
pub fn is_placeholder(value: &str) -> bool {
    value.contains("EXAMPLE") || value == "example.com" || value.ends_with(".example.com")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hint;
    use crate::manifest::SERVICE_STACK;

    fn infra() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra")
    }

    #[test]
    fn loads_the_real_environments() {
        let env = Environment::load(&infra(), "staging").unwrap();
        assert_eq!(env.stack_name("network"), "faro-staging-network");
        assert_eq!(env.export("api-url"), "faro-staging-api-url");
        assert_eq!(env.manifest.stacks.first().unwrap().name, "network");
        assert!(
            env.stack(SERVICE_STACK)
                .unwrap()
                .deploy_parameters
                .contains(&"ImageTag".to_string())
        );
        assert_eq!(env.tags().get("Environment").unwrap(), "staging");
        assert!(!env.file.usage.is_empty(), "the cost model's assumptions");
        assert_eq!(env_names(&infra()).unwrap(), ["production", "staging"]);
    }

    #[test]
    fn unknown_environments_list_the_known_ones() {
        let err = Environment::load(&infra(), "qa").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`qa`") && text.contains("production, staging"),
            "{text}"
        );
        assert!(err.hint().unwrap().contains("infra/env/staging.json"));
    }

    #[test]
    fn a_file_must_name_its_own_environment() {
        let dir = std::env::temp_dir().join(format!("faro-infra-model-{}", std::process::id()));
        fs::create_dir_all(dir.join("env")).unwrap();
        fs::write(
            dir.join("env/qa.json"),
            r#"{"environment": "staging", "region": "us-east-1", "parameters": {}}"#,
        )
        .unwrap();
        let err = EnvFile::load(&dir, "qa").unwrap_err();
        fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(err, Error::Parse { .. }), "{err}");
        assert!(err.to_string().contains("`staging`"), "{err}");
    }

    #[test]
    fn placeholders() {
        assert!(is_placeholder("Z0000000000000EXAMPLE"));
        assert!(is_placeholder("staging.faro.example.com"));
        assert!(!is_placeholder("faro.dev"));
    }
}
