//! Faro's release tooling, behind `cargo xtask image|deploy|status|logs|rollback|destroy`.
//!
//! A crate of its own, beside xtask, because the AWS SDK crates it needs take minutes to
//! compile: `cargo xtask dev` and `test` stay quick to build on a fresh machine, and this
//! compiles only when a release command (or the workspace's tests) needs it.
//!
//! - [`image`]: the backend's OCI image, reproducible, without Docker
//! - [`registry`]: the OCI distribution API (push, pull, ECR authentication)
//! - [`deploy`]: the eight steps of a deploy; [`rollback`], [`status`], [`destroy`], [`logs`]
//!
//! The stand-ins its tests run instead of AWS live in crates/aws-standin, outside the product.

pub mod amplify;
pub mod aws;
pub mod cfn;
pub mod cli;
pub mod deploy;
pub mod destroy;
pub mod ecs;
pub mod frontend;
pub mod git;
pub mod image;
pub mod logs;
pub mod poll;
pub mod preflight;
pub mod registry;
pub mod rollback;
pub mod smoke;
pub mod status;

pub use faro_infra_model::Hint;

/// Every error a release command can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Infra(#[from] faro_infra_model::Error),
    #[error(transparent)]
    Git(#[from] git::Error),
    #[error(transparent)]
    Layout(#[from] image::layout::Error),
    #[error(transparent)]
    Build(#[from] image::build::Error),
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Ecr(#[from] registry::ecr::Error),
    #[error(transparent)]
    Cfn(#[from] cfn::Error),
    #[error(transparent)]
    Ecs(#[from] ecs::Error),
    #[error(transparent)]
    Logs(#[from] logs::Error),
    #[error(transparent)]
    Frontend(#[from] frontend::Error),
    #[error(transparent)]
    Amplify(#[from] amplify::Error),
    #[error(transparent)]
    Smoke(#[from] smoke::Error),
    #[error(transparent)]
    Preflight(#[from] preflight::Error),
    #[error("refusing to replace or remove resources that hold data: {}", .0.join("; "))]
    Refused(Vec<String>),
    #[error("{0} is missing (the stacks are not all deployed?)")]
    MissingExport(String),
    #[error("the image is linux/{image} but the environment runs CpuArchitecture={env}")]
    Architecture { image: String, env: String },
    #[error("the image was built from {image}, but HEAD is {head}")]
    StaleImage { image: String, head: String },
    #[error("tag {tag} already holds another image ({digest}) and tags are immutable")]
    TagTaken { tag: String, digest: String },
    #[error("{why}; the service was rolled back to {to}")]
    RolledBack { why: String, to: String },
    #[error("environment {0} has no service stack yet")]
    NotDeployed(String),
    #[error("no image {} to roll back to (recent: {known})", .to.as_deref().map(|t| format!("matching `{t}`")).unwrap_or_else(|| "older than the running one".into()))]
    NoEarlierImage { to: Option<String>, known: String },
    #[error("image {0} is not in the repository")]
    UnknownImage(String),
    #[error("the typed name did not match `{0}`: nothing was deleted")]
    NotConfirmed(String),
    #[error(
        "{stack} is ROLLBACK_COMPLETE: its creation failed and CloudFormation rolled it back, so it cannot be updated, only deleted"
    )]
    CreationFailed {
        stack: String,
        env: String,
        /// Its name in stacks.json.
        short: String,
        stateful: bool,
    },
    #[error("{0}")]
    Other(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Infra(e) => e.hint(),
            Self::Git(e) => e.hint(),
            Self::Layout(e) => e.hint(),
            Self::Build(e) => e.hint(),
            Self::Registry(e) => e.hint(),
            Self::Ecr(e) => e.hint(),
            Self::Cfn(e) => e.hint(),
            Self::Ecs(e) => e.hint(),
            Self::Logs(e) => e.hint(),
            Self::Frontend(e) => e.hint(),
            Self::Amplify(e) => e.hint(),
            Self::Smoke(e) => e.hint(),
            Self::Preflight(e) => e.hint(),
            Self::Refused(_) => Some(
                "read the diff above: if losing that data is intended (a snapshot exists), rerun with --yes".into(),
            ),
            Self::MissingExport(_) => Some("deploy the environment first: `cargo xtask deploy --env …`".into()),
            Self::Architecture { env, .. } => Some(format!(
                "build for it (`cargo xtask image build --target {}`) or set CpuArchitecture in infra/env/<env>.json",
                if env == "ARM64" { "aarch64-unknown-linux-musl" } else { "x86_64-unknown-linux-musl" }
            )),
            Self::StaleImage { .. } => Some("rebuild it: `cargo xtask image build` (or drop --image-dir)".into()),
            Self::TagTaken { .. } => Some(
                "a different build of this commit was pushed before (a dirty tree?): commit your changes and deploy again".into(),
            ),
            Self::RolledBack { .. } => Some("look at the logs: `cargo xtask logs --env … --since 15m`".into()),
            Self::NotDeployed(env) => Some(format!("deploy it first: `cargo xtask deploy --env {env}`")),
            Self::NoEarlierImage { .. } => Some("pass one of the listed tags: `cargo xtask rollback --env … --to <sha>`".into()),
            Self::UnknownImage(tag) => Some(format!(
                "the lifecycle policy may have expired it; deploy that commit again instead (git checkout {tag} && cargo xtask deploy --env …)"
            )),
            Self::NotConfirmed(env) => Some(format!("run it again and type `{env}` exactly")),
            Self::CreationFailed { short, env, stateful, .. } => Some(format!(
                "see why it failed with `cargo xtask status --env {env}` (or its events in the CloudFormation console), \
                 fix that, delete the stack with `cargo xtask destroy --env {env} --stack {short}{}`, then deploy again: \
                 `cargo xtask deploy --env {env}`",
                if *stateful { " --include-data" } else { "" }
            )),
            Self::Other(_) => None,
        }
    }
}
