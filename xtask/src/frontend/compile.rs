//! From Rust to a wasm module and its JavaScript glue.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Error, PACKAGE};
use crate::prereq;
use crate::proc;
use crate::workspace::Workspace;

pub const TARGET: &str = "wasm32-unknown-unknown";
/// The profile `--release` builds with (root Cargo.toml): small rather than fast.
const RELEASE_PROFILE: &str = "wasm-release";
/// The stem of the generated files (`faro.js`, `faro_bg.wasm`).
pub const STEM: &str = "faro";

/// What wasm-bindgen wrote.
#[derive(Debug)]
pub struct Glue {
    pub js: PathBuf,
    pub wasm: PathBuf,
    /// `snippets/`, when a dependency ships inline JavaScript.
    pub snippets: Option<PathBuf>,
}

/// Whether the toolchain of the workspace (rust-toolchain.toml) has the wasm32 standard library.
fn target_installed(ws: &Workspace) -> bool {
    let mut rustc = Command::new("rustc");
    rustc.current_dir(&ws.root).args(["--print", "sysroot"]);
    proc::capture("rustc --print sysroot", &mut rustc, proc::OnShutdown::Abort)
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .is_some_and(|sysroot| {
            Path::new(&sysroot)
                .join("lib/rustlib")
                .join(TARGET)
                .join("lib")
                .is_dir()
        })
}

fn ensure_target(ws: &Workspace) -> Result<(), Error> {
    if target_installed(ws) {
        return Ok(());
    }
    let rustup = prereq::find_program("rustup", &[]).ok_or(Error::NoRustup)?;
    eprintln!("xtask: rustup target add {TARGET} (once)");
    let mut cmd = Command::new(rustup);
    cmd.current_dir(&ws.root).args(["target", "add", TARGET]);
    match proc::run("rustup target add", &mut cmd) {
        Ok(()) => Ok(()),
        Err(proc::Error::Failed { status, .. }) => Err(Error::TargetAdd(status)),
        Err(e) => Err(e.into()),
    }
}

/// `cargo build` of the app for the browser, with `commit` compiled in (`FARO_GIT_SHA`, which
/// the app compares with the live `version.json`); returns the module.
pub fn wasm(ws: &Workspace, release: bool, commit: &str) -> Result<PathBuf, Error> {
    ensure_target(ws)?;
    let mut cmd = ws.cargo();
    cmd.args(["build", "-p", PACKAGE, "--bin", PACKAGE, "--target", TARGET])
        .env("FARO_GIT_SHA", commit);
    if release {
        cmd.args(["--profile", RELEASE_PROFILE]);
    }
    let command = format!(
        "cargo build -p {PACKAGE} --target {TARGET}{}",
        if release {
            format!(" --profile {RELEASE_PROFILE}")
        } else {
            String::new()
        }
    );
    eprintln!("xtask: {command}");
    match proc::run(&command, &mut cmd) {
        Ok(()) => {}
        Err(proc::Error::Failed { status, .. }) => return Err(Error::Build { command, status }),
        Err(e) => return Err(e.into()),
    }
    let wasm = ws
        .target
        .join(TARGET)
        .join(if release { RELEASE_PROFILE } else { "debug" })
        .join(format!("{PACKAGE}.wasm"));
    if wasm.is_file() {
        Ok(wasm)
    } else {
        Err(Error::NoWasm(wasm.display().to_string()))
    }
}

/// wasm-bindgen for the web target (an ES module whose `default` export loads the wasm).
pub fn bindgen(wasm: &Path, out_dir: &Path) -> Result<Glue, Error> {
    let failed = |reason: String| Error::Bindgen {
        wasm: wasm.display().to_string(),
        reason,
    };
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .out_name(STEM)
        .web(true)
        .map_err(|e| failed(format!("{e:#}")))?
        .typescript(false)
        .generate(out_dir)
        .map_err(|e| failed(format!("{e:#}")))?;
    let snippets = out_dir.join("snippets");
    Ok(Glue {
        js: out_dir.join(format!("{STEM}.js")),
        wasm: out_dir.join(format!("{STEM}_bg.wasm")),
        snippets: snippets.is_dir().then_some(snippets),
    })
}
