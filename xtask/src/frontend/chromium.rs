//! Debian's Chromium and ChromeDriver, which the end-to-end tests drive: installed with apt
//! when missing (never a browser build downloaded from elsewhere).

use std::process::Command;

use super::Error;
use crate::{prereq, proc};

pub const PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];
const PROGRAMS: [&str; 2] = ["chromium", "chromedriver"];

fn missing() -> Vec<&'static str> {
    PROGRAMS
        .iter()
        .copied()
        .filter(|p| prereq::find_program(p, &["/usr/lib/chromium"]).is_none())
        .collect()
}

fn apt_get(args: &[&str]) -> Result<(), proc::Error> {
    let mut cmd = Command::new("apt-get");
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    proc::run(&format!("apt-get {}", args.join(" ")), &mut cmd)
}

/// Makes sure both programs are there; returns what was done, for the summary.
pub fn ensure() -> Result<String, Error> {
    if missing().is_empty() {
        return Ok("chromium and chromedriver are installed".into());
    }
    if prereq::find_program("apt-get", &[]).is_none() {
        return Err(Error::NoChromium(missing().join(" and ")));
    }
    let install = [
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        PACKAGES[0],
        PACKAGES[1],
    ];
    eprintln!(
        "xtask: installing {} with apt (once)",
        PACKAGES.join(" and ")
    );
    // A fresh machine's package lists may be empty or stale: update once and try again.
    if apt_get(&install).is_err() {
        let installed = apt_get(&["update", "-qq"]).and_then(|()| apt_get(&install));
        if let Err(e) = installed {
            return Err(Error::ChromiumInstall(e.to_string()));
        }
    }
    match missing().as_slice() {
        [] => Ok(format!("installed {} with apt", PACKAGES.join(" and "))),
        still => Err(Error::NoChromium(still.join(" and "))),
    }
}
