//! `cargo xtask frontend build [--release]`: the Leptos app, compiled to wasm32 and turned into
//! the static files a browser loads, in `frontend/dist/`.
//!
//! 1. `cargo build -p faro-frontend --target wasm32-unknown-unknown` (the `wasm-release`
//!    profile with `--release`), adding the target with rustup when it is missing;
//! 2. wasm-bindgen through the `wasm-bindgen-cli-support` library, pinned to the exact
//!    `wasm-bindgen` of Cargo.lock (no CLI to download, and no version skew);
//! 3. with `--release`, `wasm-opt -Oz` from the npm package `binaryen` (installed once into the
//!    cache; Debian's binaryen breaks wasm-bindgen's externref table, so it is never used);
//! 4. content-hashed file names under `assets/`, the bootstrap module `assets/boot-<hash>.js`
//!    naming the glue and the wasm, and `index.html` pointing at them (no inline script);
//! 5. `version.json` naming the commit built (`{"git_sha": …}`), the same commit the wasm has
//!    compiled in: the deploy's smoke test compares it with the backend's, and a running app
//!    with the live one, to offer a reload when a newer frontend is live;
//! 6. the size of every file, raw and gzipped.
//!
//! `config.json` (the API's base URL and the environment's name) is not part of the build: one
//! build serves every environment, and whoever serves it writes that file ([`write_config`]),
//! for Amplify with the app's headers (`cargo xtask frontend configure`, [`configure`]).

mod assets;
mod binaryen;
mod chromium;
mod compile;
mod configure;
mod dev;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::workspace::Workspace;
use crate::{Hint, proc};

pub use assets::{Report, human};
pub use chromium::ensure as ensure_chromium;
pub use configure::{Configure, run as configure};
pub use dev::DevFrontend;

/// The crate, and the folder the build writes.
pub const PACKAGE: &str = "faro-frontend";
pub const DIST: &str = "frontend/dist";
/// The build's record of its commit, beside `index.html`.
pub const VERSION_FILE: &str = "version.json";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Optimised for size (the `wasm-release` profile and wasm-opt) instead of build speed.
    pub release: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the Rust toolchain has no wasm32-unknown-unknown target, and rustup is not installed to add it"
    )]
    NoRustup,
    #[error("`rustup target add wasm32-unknown-unknown` failed ({0})")]
    TargetAdd(String),
    #[error("`{command}` failed ({status})")]
    Build { command: String, status: String },
    #[error("cargo built no {0}")]
    NoWasm(String),
    #[error("wasm-bindgen failed on {wasm}: {reason}")]
    Bindgen { wasm: String, reason: String },
    #[error("no cache folder for binaryen: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,
    #[error("`npm install binaryen@{version}` failed ({status}): {stderr}")]
    NpmInstall {
        version: &'static str,
        status: String,
        stderr: String,
    },
    #[error("wasm-opt failed ({status}): {stderr}")]
    WasmOpt { status: String, stderr: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0} not installed, and apt-get is not there to install it")]
    NoChromium(String),
    #[error("could not install Chromium with apt: {0}")]
    ChromiumInstall(String),
    #[error("{0}")]
    ApiBaseUrl(String),
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoRustup => {
                "install the toolchain with rustup, then `rustup target add wasm32-unknown-unknown`"
                    .into()
            }
            Self::TargetAdd(_) => {
                "run `rustup target add wasm32-unknown-unknown` in the workspace to see why".into()
            }
            Self::Build { command, .. } => {
                format!("fix the errors above; `{command}` shows them again")
            }
            Self::NoWasm(_) => format!("check that package {PACKAGE} has a bin target"),
            Self::Bindgen { .. } => format!(
                "wasm-bindgen-cli-support must be the exact version of wasm-bindgen in Cargo.lock: \
                 compare `cargo tree -p {PACKAGE} -i wasm-bindgen` with the root Cargo.toml"
            ),
            Self::NoCacheDir => {
                "set XDG_CACHE_HOME, e.g. `XDG_CACHE_HOME=/tmp/cache cargo xtask frontend build`"
                    .into()
            }
            Self::NpmInstall { version, .. } => format!(
                "check that the npm registry answers: `npm view binaryen@{version} version`"
            ),
            Self::WasmOpt { .. } => format!(
                "delete the cached binaryen ({}) and build again; without npm the build skips wasm-opt",
                binaryen::install_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "~/.cache/faro/tools/binaryen-*".into())
            ),
            Self::NoChromium(_) | Self::ChromiumInstall(_) => format!(
                "install them as root: `apt-get update && apt-get install -y {}`; the \
                 end-to-end tests drive Debian's Chromium through chromedriver",
                chromium::PACKAGES.join(" ")
            ),
            Self::ApiBaseUrl(_) => "pass the API's origin, as the app's config.json names it: \
                 `cargo xtask frontend configure --api-base-url https://api.example.com \
                 --environment staging`"
                .into(),
            Self::Io { .. } => return None,
            Self::Proc(e) => return e.hint(),
        })
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    pub dist: PathBuf,
    pub report: Report,
}

/// `cargo xtask frontend build`.
pub fn run(options: &Options) -> Result<ExitCode, Error> {
    let ws = Workspace::locate();
    let started = Instant::now();
    let built = build(&ws, options.release)?;
    eprintln!(
        "\nxtask: {} built in {:.1} s{}",
        ws.display(&built.dist),
        started.elapsed().as_secs_f64(),
        if options.release {
            ""
        } else {
            " (debug build: `cargo xtask frontend build --release` is what ships)"
        }
    );
    eprint!("{}", built.report);
    Ok(ExitCode::SUCCESS)
}

/// Builds the app into `frontend/dist/` and measures it.
pub fn build(ws: &Workspace, release: bool) -> Result<Built, Error> {
    let commit = commit(ws);
    let wasm = compile::wasm(ws, release, &commit)?;
    let staging = ws.target.join("faro-frontend-staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(io_error(format!("creating {}", staging.display())))?;
    eprintln!("xtask: wasm-bindgen {}", ws.display(&wasm));
    let glue = compile::bindgen(&wasm, &staging)?;
    if release {
        match binaryen::wasm_opt()? {
            Some(wasm_opt) => binaryen::optimize(&wasm_opt, &glue.wasm)?,
            None => eprintln!(
                "xtask: note: npm is not installed, so wasm-opt is skipped and the .wasm is \
                 larger than it would be (`apt-get install -y npm` enables it)"
            ),
        }
    }
    let dist = ws.root.join(DIST);
    let frontend = ws.root.join("frontend");
    assets::publish(&glue, &frontend, &dist)?;
    let version = serde_json::json!({ "git_sha": commit });
    assets::write_atomic(&dist.join(VERSION_FILE), version.to_string().as_bytes())?;
    let report = assets::measure(&dist)?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Built { dist, report })
}

/// The commit being built, as the backend's build.rs finds it: `FARO_GIT_SHA` when set (a
/// build without a checkout), else git's HEAD, else `unknown`.
fn commit(ws: &Workspace) -> String {
    if let Some(sha) = std::env::var("FARO_GIT_SHA").ok().filter(|s| !s.is_empty()) {
        return sha;
    }
    let mut git = std::process::Command::new("git");
    git.current_dir(&ws.root).args(["rev-parse", "HEAD"]);
    proc::capture("git rev-parse HEAD", &mut git, proc::OnShutdown::Abort)
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|sha| !sha.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Writes `config.json` into `dist`: where the app finds the API (empty for its own origin)
/// and the name of the environment it shows. Replaced atomically, as a server may be reading.
pub fn write_config(dist: &Path, api_base_url: &str, environment: &str) -> Result<(), Error> {
    let body = serde_json::json!({
        "api_base_url": api_base_url,
        "environment": environment,
    });
    assets::write_atomic(&dist.join("config.json"), body.to_string().as_bytes())
}
