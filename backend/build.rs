//! Bakes the git commit SHA and commit time into the binary for `/api/version`.
//!
//! Only git facts are used, never the clock, so one commit always builds the same bytes.
//! Builds without a git checkout (a container build context, Amplify) pass
//! `FARO_GIT_SHA` and `FARO_GIT_COMMIT_TIME` instead.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=FARO_GIT_SHA");
    println!("cargo:rerun-if-env-changed=FARO_GIT_COMMIT_TIME");
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        // HEAD moves on checkout and commit; the ref it points to moves on commit.
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={git_dir}/{reference}");
        }
        println!("cargo:rerun-if-changed={git_dir}/packed-refs");
    }
    let sha = std::env::var("FARO_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let time = std::env::var("FARO_GIT_COMMIT_TIME")
        .ok()
        .or_else(|| git(&["show", "-s", "--format=%cI", "HEAD"]))
        .unwrap_or_default();
    println!("cargo:rustc-env=FARO_GIT_SHA={sha}");
    println!("cargo:rustc-env=FARO_GIT_COMMIT_TIME={time}");
}
