//! Faro's infrastructure as `infra/` describes it, with no AWS in sight: the manifest
//! (`infra/stacks.json`: stacks in deployment order, templates, capabilities, which stacks hold
//! data), the environments (`infra/env/<name>.json`: parameter values and the cost model's usage
//! assumptions), and the names derived from them (stacks, exports).
//!
//! xtask reads it for its checks and cost model, faro-deploy to deploy; each adds what only it
//! needs (xtask parses the templates, faro-deploy talks to CloudFormation).

pub mod environment;
pub mod files;
pub mod manifest;
pub mod teardown;
pub mod template;

pub use environment::{EnvFile, Environment, env_names, is_placeholder};
pub use files::{Error, read, read_json};
pub use manifest::{Manifest, StackEntry};

/// An error that can say what to do next.
pub trait Hint {
    /// The next step for the user, with the exact command where there is one.
    fn hint(&self) -> Option<String>;
}
