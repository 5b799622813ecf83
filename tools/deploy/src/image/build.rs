//! Building the backend for the image: a statically linked musl release binary, with the facts
//! of the commit it comes from.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Hint;
use crate::git::Commit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not run cargo: {0}")]
    Spawn(std::io::Error),
    #[error("`cargo build --release --target {target} -p faro-backend` failed")]
    Cargo { target: String },
    #[error("cargo finished but {0} is missing")]
    Missing(PathBuf),
    #[error("unsupported target `{0}` (the image is linux/amd64 or linux/arm64)")]
    Target(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Spawn(_) => "cargo must be on PATH".into(),
            Self::Cargo { target } => format!(
                "see cargo's output above; a missing target or C compiler shows as a linker or \
                 `cc` error: `rustup target add {target}` and `apt-get install -y musl-tools`"
            ),
            Self::Missing(_) => "rerun `cargo xtask image build`".into(),
            Self::Target(_) => {
                "use --target x86_64-unknown-linux-musl or aarch64-unknown-linux-musl".into()
            }
        })
    }
}

/// A Rust target triple the image can be built for, and its OCI architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub triple: String,
    pub architecture: &'static str,
}

impl Target {
    pub fn parse(triple: &str) -> Result<Self, Error> {
        let architecture = match triple {
            "x86_64-unknown-linux-musl" => "amd64",
            "aarch64-unknown-linux-musl" => "arm64",
            other => return Err(Error::Target(other.to_string())),
        };
        Ok(Self {
            triple: triple.to_string(),
            architecture,
        })
    }

    /// The target for an ECS `CpuArchitecture` (`X86_64`, `ARM64`).
    pub fn for_ecs(cpu: &str) -> Result<Self, Error> {
        match cpu {
            "X86_64" => Self::parse("x86_64-unknown-linux-musl"),
            "ARM64" => Self::parse("aarch64-unknown-linux-musl"),
            other => Err(Error::Target(other.to_string())),
        }
    }

    /// ECS's name of this architecture.
    pub fn ecs_name(&self) -> &'static str {
        match self.architecture {
            "arm64" => "ARM64",
            _ => "X86_64",
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Self::parse("x86_64-unknown-linux-musl").expect("a known target")
    }
}

/// `cargo build --release` of the backend for `target`; returns the binary.
///
/// Paths of the workspace and of cargo's registry are remapped so that the binary does not
/// depend on where the checkout lives, and symbols are stripped (the image has no debugger).
/// The flags go to the target only, so host build scripts stay cached.
pub fn backend_binary(
    root: &Path,
    target_dir: &Path,
    target: &Target,
    commit: &Commit,
) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
    let flags = format!(
        "--remap-path-prefix={}=/faro --remap-path-prefix={}=/cargo -C strip=symbols -C target-feature=+crt-static",
        root.display(),
        cargo_home.display()
    );
    let env_name = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.triple.to_uppercase().replace('-', "_")
    );
    eprintln!(
        "faro-deploy: building faro-backend for {} (release, static)…",
        target.triple
    );
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "faro-backend",
            "--target",
        ])
        .arg(&target.triple)
        .env("CARGO_TARGET_DIR", target_dir)
        .env(env_name, flags)
        // The same facts build.rs would read from git, fixed for the build.
        .env("FARO_GIT_SHA", &commit.sha)
        .env("FARO_GIT_COMMIT_TIME", &commit.time_rfc3339)
        .env("SOURCE_DATE_EPOCH", commit.epoch.to_string())
        .status()
        .map_err(Error::Spawn)?;
    if !status.success() {
        return Err(Error::Cargo {
            target: target.triple.clone(),
        });
    }
    let binary = target_dir
        .join(&target.triple)
        .join("release")
        .join("faro-backend");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(Error::Missing(binary))
    }
}
