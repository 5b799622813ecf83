//! The commit being built and deployed, from git.

use std::path::Path;
use std::process::Command;

use crate::Hint;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`git {args}` failed: {detail}")]
    Git { args: String, detail: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some("run it from a git checkout of the Faro repository, with git installed".into())
    }
}

/// HEAD of the checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    /// Commit time, seconds since the epoch (SOURCE_DATE_EPOCH of the image).
    pub epoch: i64,
    pub time_rfc3339: String,
    /// Paths with uncommitted changes (`git status --porcelain`), empty when clean.
    pub dirty: Vec<String>,
}

fn git(root: &Path, args: &[&str]) -> Result<String, Error> {
    let fail = |detail: String| Error::Git {
        args: args.join(" "),
        detail,
    };
    let out = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Commit {
    pub fn head(root: &Path) -> Result<Self, Error> {
        let sha = git(root, &["rev-parse", "HEAD"])?.trim().to_string();
        let facts = git(root, &["show", "-s", "--format=%ct %cI", "HEAD"])?;
        let (epoch, time) = facts.trim().split_once(' ').unwrap_or(("0", ""));
        let dirty = git(root, &["status", "--porcelain", "--untracked-files=normal"])?
            .lines()
            .map(|l| l.get(3..).unwrap_or(l).to_string())
            .collect();
        Ok(Self {
            sha,
            epoch: epoch.parse().unwrap_or(0),
            time_rfc3339: time.to_string(),
            dirty,
        })
    }

    pub fn is_clean(&self) -> bool {
        self.dirty.is_empty()
    }

    pub fn short(&self) -> &str {
        self.sha.get(..12).unwrap_or(&self.sha)
    }
}

/// The image tag of a build: the commit SHA, or for a dirty tree the SHA plus the start of the
/// manifest digest (tags are immutable in ECR, and a dirty build is not that commit).
pub fn image_tag(commit: &Commit, manifest_digest: &str) -> String {
    if commit.is_clean() {
        commit.sha.clone()
    } else {
        let hex = manifest_digest
            .strip_prefix("sha256:")
            .unwrap_or(manifest_digest);
        format!("{}-dirty-{}", commit.sha, &hex[..12.min(hex.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_builds_get_their_own_tag() {
        let mut commit = Commit {
            sha: "a".repeat(40),
            epoch: 1,
            time_rfc3339: String::new(),
            dirty: Vec::new(),
        };
        assert_eq!(
            image_tag(&commit, "sha256:0123456789abcdef"),
            "a".repeat(40)
        );
        commit.dirty.push("README.md".into());
        let tag = image_tag(&commit, "sha256:0123456789abcdef");
        assert_eq!(tag, format!("{}-dirty-0123456789ab", "a".repeat(40)));
        // The service stack's ImageTag pattern: ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$
        assert!(
            tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        );
    }
}
