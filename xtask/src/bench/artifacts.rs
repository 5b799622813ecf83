//! The budgets of what ships, measured by building it: the release image (its compressed size,
//! and whether two builds give the same digest) and the frontend's first load.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::Error;
use crate::frontend;
use crate::proc;
use crate::workspace::Workspace;

/// The scenario that builds the release image twice.
pub const IMAGE: &str = "image";
/// The scenario that builds the frontend for release.
pub const FIRST_LOAD: &str = "first-load";

/// Config and layers as the registry stores them (what a task pulls).
const IMAGE_BUDGET: &str = "budget 15 MB compressed";
/// Everything the browser fetches on the first visit, gzipped. 280 KB until the
/// organizations' screens (issue 14) added 25 KB that could not be won back without loading
/// them lazily (docs/frontend.md, "The organizations").
const FIRST_LOAD_BUDGET: &str = "budget 300 KB";

/// One `image build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuild {
    pub dir: PathBuf,
    pub digest: String,
    /// Config and layers, compressed.
    pub compressed: u64,
    pub took: Duration,
}

/// What the image scenario measured: two builds of the same tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub first: ImageBuild,
    pub second: ImageBuild,
}

impl Image {
    pub fn lines(&self, ws: &Workspace) -> Vec<String> {
        let reproducible = if self.first.digest == self.second.digest {
            format!("reproducible: yes ({})", self.first.digest)
        } else {
            format!(
                "reproducible: NO: {} ≠ {}",
                self.first.digest, self.second.digest
            )
        };
        vec![
            format!(
                "image       {:>10}   ({IMAGE_BUDGET}; built in {:.0} s, then in {:.0} s)",
                mb(self.first.compressed),
                self.first.took.as_secs_f64(),
                self.second.took.as_secs_f64(),
            ),
            format!("            {reproducible}"),
            format!(
                "            (two builds: {} and {})",
                ws.display(&self.first.dir),
                ws.display(&self.second.dir)
            ),
        ]
    }
}

/// What the first-load scenario measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstLoad {
    /// Every file of the build, gzipped.
    pub gzip: u64,
    /// Gzipped bytes by file extension, largest first.
    pub by_kind: Vec<(String, u64)>,
}

impl FirstLoad {
    pub fn from_report(report: &frontend::Report) -> Self {
        Self::new(
            report.total_gzip(),
            report.files.iter().map(|f| (f.path.as_str(), f.gzip)),
        )
    }

    /// The total and each file's (path, gzipped size).
    fn new<'a>(gzip: u64, files: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let mut by_kind: Vec<(String, u64)> = Vec::new();
        for (path, bytes) in files {
            let kind = Path::new(path)
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_else(|| "other".into());
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, total)) => *total += bytes,
                None => by_kind.push((kind, bytes)),
            }
        }
        by_kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self { gzip, by_kind }
    }

    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .by_kind
            .iter()
            .map(|(kind, bytes)| format!("{kind} {}", frontend::human(*bytes)))
            .collect();
        format!(
            "first load  {:>10}   (gzipped, {FIRST_LOAD_BUDGET}): {}",
            frontend::human(self.gzip),
            parts.join(", ")
        )
    }
}

/// What the build scenarios measured.
#[derive(Debug, Default)]
pub struct Results {
    pub image: Option<Image>,
    pub first_load: Option<FirstLoad>,
}

impl Results {
    pub fn is_empty(&self) -> bool {
        self.image.is_none() && self.first_load.is_none()
    }
}

pub fn run(ws: &Workspace, image: bool, first_load: bool) -> Result<Results, Error> {
    let mut results = Results::default();
    if first_load {
        eprintln!("xtask: scenario {FIRST_LOAD}: the frontend's release build");
        let built = frontend::build(ws, true)?;
        let measured = FirstLoad::from_report(&built.report);
        eprintln!("  {}", measured.line());
        results.first_load = Some(measured);
    }
    if image {
        let first = build_image(ws, "bench-a")?;
        let second = build_image(ws, "bench-b")?;
        results.image = Some(Image { first, second });
    }
    Ok(results)
}

/// `cargo xtask image build --output target/faro-image/<name>`, as that command runs it.
fn build_image(ws: &Workspace, name: &str) -> Result<ImageBuild, Error> {
    let dir = ws.target.join("faro-image").join(name);
    eprintln!(
        "xtask: scenario {IMAGE}: the release image into {}",
        ws.display(&dir)
    );
    let mut cmd = ws.cargo();
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "faro-deploy",
        "--",
        "image",
        "build",
        "--output",
    ])
    .arg(&dir)
    // What faro-deploy prints goes with the progress on stderr; stdout is the report.
    .stdout(Stdio::from(std::io::stderr()));
    let started = Instant::now();
    let status = proc::status("faro-deploy image build", &mut cmd)?;
    if !status.success() {
        return Err(Error::ImageBuild {
            status: proc::describe(status),
        });
    }
    let took = started.elapsed();
    let (digest, compressed) = read_layout(&dir).map_err(|reason| Error::Layout {
        dir: dir.display().to_string(),
        reason,
    })?;
    Ok(ImageBuild {
        dir,
        digest,
        compressed,
        took,
    })
}

/// The manifest digest of an OCI image layout and its compressed size (config and layers).
pub fn read_layout(dir: &Path) -> Result<(String, u64), String> {
    let json = |path: PathBuf| -> Result<serde_json::Value, String> {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    let blob = |digest: &str| {
        dir.join("blobs")
            .join("sha256")
            .join(digest.strip_prefix("sha256:").unwrap_or(digest))
    };
    let index = json(dir.join("index.json"))?;
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .ok_or("index.json names no manifest")?
        .to_string();
    let manifest = json(blob(&digest))?;
    let size = |descriptor: &serde_json::Value| {
        descriptor["size"]
            .as_u64()
            .ok_or_else(|| format!("manifest {digest}: a descriptor has no size"))
    };
    let mut compressed = size(&manifest["config"])?;
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        compressed += size(layer)?;
    }
    Ok((digest, compressed))
}

/// Bytes as megabytes with two decimals.
fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_digest_and_compressed_size_of_a_layout() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-layout-{}", std::process::id()));
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(
            blobs.join("abc"),
            r#"{"config":{"digest":"sha256:c","size":700},"layers":[{"digest":"sha256:l","size":9000000}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("index.json"),
            r#"{"manifests":[{"digest":"sha256:abc","size":1}]}"#,
        )
        .unwrap();
        assert_eq!(read_layout(&dir), Ok(("sha256:abc".to_string(), 9_000_700)));
        std::fs::write(dir.join("index.json"), r#"{"manifests":[]}"#).unwrap();
        assert!(read_layout(&dir).unwrap_err().contains("no manifest"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn image_lines_say_whether_the_builds_agree() {
        let ws = Workspace::locate();
        let build = |dir: &str, digest: &str| ImageBuild {
            dir: ws.target.join(dir),
            digest: digest.into(),
            compressed: 12_345_678,
            took: Duration::from_secs(3),
        };
        let same = Image {
            first: build("a", "sha256:1"),
            second: build("b", "sha256:1"),
        };
        let text = same.lines(&ws).join("\n");
        assert!(
            text.contains("12.35 MB") && text.contains(IMAGE_BUDGET),
            "{text}"
        );
        assert!(text.contains("reproducible: yes (sha256:1)"), "{text}");
        let differ = Image {
            second: build("b", "sha256:2"),
            ..same
        };
        let text = differ.lines(&ws).join("\n");
        assert!(
            text.contains("reproducible: NO: sha256:1 ≠ sha256:2"),
            "{text}"
        );
    }

    #[test]
    fn first_load_by_kind() {
        let files = [
            ("index.html", 700),
            ("assets/faro-1.js", 8_000),
            ("assets/snippets/x/inline0.js", 900),
            ("assets/faro_bg-1.wasm", 328_000),
            ("assets/app-1.css", 3_900),
        ];
        let load = FirstLoad::new(files.iter().map(|f| f.1).sum(), files);
        assert_eq!(load.gzip, 341_500);
        assert_eq!(load.by_kind[0], ("wasm".to_string(), 328_000));
        assert_eq!(load.by_kind[1], ("js".to_string(), 8_900));
        assert_eq!(
            load.line(),
            "first load    341.5 KB   (gzipped, budget 300 KB): wasm 328.0 KB, js 8.9 KB, \
             css 3.9 KB, html 700 B"
        );
    }
}
