//! `wasm-opt` from the npm package `binaryen`, installed once into the cache.
//!
//! Debian's binaryen (108) rewrites wasm-bindgen's externref table into a module that loads to
//! a blank page, so only this pinned npm build is used; without npm the step is skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::{Error, io_error};
use crate::{prereq, proc};

/// The pinned npm package version (binaryen's own version number).
pub const VERSION: &str = "132.0.0";

/// The features rustc's wasm32-unknown-unknown target emits by default (Rust 1.87+):
/// wasm-opt must accept them, and must not use any other.
const FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// `${XDG_CACHE_HOME:-$HOME/.cache}/faro/tools/binaryen-<VERSION>`, beside the infra tools.
pub fn install_dir() -> Result<PathBuf, Error> {
    Ok(crate::cache::faro_dir()
        .ok_or(Error::NoCacheDir)?
        .join("tools")
        .join(format!("binaryen-{VERSION}")))
}

fn program(dir: &Path) -> PathBuf {
    dir.join("node_modules/binaryen/bin/wasm-opt")
}

/// The cached `wasm-opt`, installed first when missing; `None` without npm.
pub fn wasm_opt() -> Result<Option<PathBuf>, Error> {
    let dir = install_dir()?;
    let wasm_opt = program(&dir);
    if wasm_opt.is_file() {
        return Ok(Some(wasm_opt));
    }
    let Ok(npm) = prereq::npm() else {
        return Ok(None);
    };
    install(&npm, &dir)?;
    Ok(Some(wasm_opt))
}

/// Installs into a side folder renamed into place when complete, so an interrupted install
/// never looks finished.
fn install(npm: &Path, dir: &Path) -> Result<(), Error> {
    let parent = dir.parent().expect("the install dir has a parent");
    fs::create_dir_all(parent).map_err(io_error(format!("creating {}", parent.display())))?;
    let staging = parent.join(format!(
        ".binaryen-{VERSION}.partial-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    eprintln!("xtask: installing wasm-opt (npm package binaryen@{VERSION}, once)");
    let started = Instant::now();
    let mut cmd = Command::new(npm);
    cmd.args(["install", "--prefix"]).arg(&staging).args([
        &format!("binaryen@{VERSION}"),
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--loglevel=warn",
    ]);
    let output = proc::capture("npm install binaryen", &mut cmd, proc::OnShutdown::Abort)?;
    if !output.status.success() || !program(&staging).is_file() {
        let _ = fs::remove_dir_all(&staging);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(Error::NpmInstall {
            version: VERSION,
            status: proc::describe(output.status),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    match fs::rename(&staging, dir) {
        Ok(()) => {}
        // Another xtask finished the same install first: theirs is as good.
        Err(_) if program(dir).is_file() => {
            let _ = fs::remove_dir_all(&staging);
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(io_error(format!("moving binaryen into {}", dir.display()))(
                e,
            ));
        }
    }
    eprintln!(
        "xtask: wasm-opt installed in {} ({:.1} s)",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `wasm-opt -Oz` in place.
pub fn optimize(wasm_opt: &Path, wasm: &Path) -> Result<(), Error> {
    let optimized = wasm.with_extension("opt.wasm");
    let before = fs::metadata(wasm).map(|m| m.len()).unwrap_or_default();
    let started = Instant::now();
    eprintln!("xtask: wasm-opt -Oz (binaryen {VERSION})");
    // The npm package's wasm-opt is a Node.js script: run it with node explicitly, so a
    // missing executable bit or an odd shebang does not matter.
    let mut cmd = Command::new(prereq::find_program("node", &[]).unwrap_or_else(|| "node".into()));
    cmd.arg(wasm_opt)
        .arg("-Oz")
        .args(FEATURES)
        .arg(wasm)
        .arg("-o")
        .arg(&optimized);
    let output = proc::capture("wasm-opt", &mut cmd, proc::OnShutdown::Abort)?;
    if !output.status.success() {
        return Err(Error::WasmOpt {
            status: proc::describe(output.status),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    fs::rename(&optimized, wasm).map_err(io_error(format!("replacing {}", wasm.display())))?;
    let after = fs::metadata(wasm).map(|m| m.len()).unwrap_or_default();
    eprintln!(
        "xtask: wasm-opt {} → {} ({:.1} s)",
        super::assets::human(before),
        super::assets::human(after),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
