//! `infra/stacks.json`: the stacks of every environment, in deployment order.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::files::{Error, read_json};

/// The stack that runs the backend; the deploy supplies its image parameter.
pub const SERVICE_STACK: &str = "service";
/// The service stack's image parameter (its `deployParameters`).
pub const IMAGE_TAG: &str = "ImageTag";
/// The service stack's other deploy parameter: `false` while its ECS service must not exist yet
/// (a first deploy, until the migrations ran), `true` from then on.
pub const START_SERVICE: &str = "StartService";
/// The stack of the image repository, created before the image is pushed.
pub const REGISTRY_STACK: &str = "registry";
/// The stack of the Amplify app that hosts the frontend.
pub const FRONTEND_STACK: &str = "frontend";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `faro-{environment}-{stack}`.
    pub stack_name_pattern: String,
    /// Tags every stack gets (plus `Environment`).
    pub tags: BTreeMap<String, String>,
    pub stacks: Vec<StackEntry>,
}

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

impl Manifest {
    /// `<infra>/stacks.json`.
    pub fn load(infra: &Path) -> Result<Self, Error> {
        read_json(&infra.join("stacks.json"))
    }

    pub fn stack(&self, name: &str) -> Option<&StackEntry> {
        self.stacks.iter().find(|s| s.name == name)
    }

    /// The CloudFormation name of `stack` in `environment`.
    pub fn stack_name(&self, environment: &str, stack: &str) -> String {
        self.stack_name_pattern
            .replace("{environment}", environment)
            .replace("{stack}", stack)
    }
}
