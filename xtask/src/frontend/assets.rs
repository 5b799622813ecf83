//! Content-hashed asset names, `index.html`, and the size report.
//!
//! Hashed names let servers and CDNs cache `assets/*` forever while `index.html` (never
//! cached) always points at the current build.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};

use super::compile::{Glue, STEM};
use super::{Error, io_error};

/// Where hashed files go, inside dist and in URLs.
pub const ASSETS: &str = "assets";
/// The template (in `frontend/`) and its placeholders.
const TEMPLATE: &str = "index.html";
const STYLE: &str = "style/app.css";
const PLACEHOLDERS: [&str; 3] = ["{{css}}", "{{js}}", "{{wasm}}"];

/// `name-<first 16 hex digits of the SHA-256>.ext`
fn hashed(stem: &str, ext: &str, content: &[u8]) -> String {
    let digest = hex(&Sha256::digest(content)[..8]);
    format!("{stem}-{digest}.{ext}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(io_error(format!("reading {}", path.display())))
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), Error> {
    let dir = path.parent().expect("files live in a folder");
    fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&temp, content).map_err(io_error(format!("writing {}", temp.display())))?;
    fs::rename(&temp, path).map_err(io_error(format!("writing {}", path.display())))
}

/// Fills the template's placeholders with the asset URLs.
pub fn render_index(template: &str, css: &str, js: &str, wasm: &str) -> Result<String, String> {
    for placeholder in PLACEHOLDERS {
        if !template.contains(placeholder) {
            return Err(format!("the template has no {placeholder}"));
        }
    }
    let url = |name: &str| format!("/{ASSETS}/{name}");
    Ok(template
        .replace("{{css}}", &url(css))
        .replace("{{js}}", &url(js))
        .replace("{{wasm}}", &url(wasm)))
}

/// Puts a build into `dist`: new assets first, then `index.html`, then the old assets go.
/// `config.json` and anything else outside `assets/` is left alone.
pub fn publish(glue: &Glue, frontend: &Path, dist: &Path) -> Result<(), Error> {
    let js = read(&glue.js)?;
    let wasm = read(&glue.wasm)?;
    let css = read(&frontend.join(STYLE))?;
    let template_path = frontend.join(TEMPLATE);
    let template = String::from_utf8(read(&template_path)?).map_err(|_| Error::Io {
        what: format!("reading {}", template_path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"),
    })?;

    let names = [
        (hashed(STEM, "js", &js), js),
        (hashed(&format!("{STEM}_bg"), "wasm", &wasm), wasm),
        (hashed("app", "css", &css), css),
    ];
    let index =
        render_index(&template, &names[2].0, &names[0].0, &names[1].0).map_err(|reason| {
            Error::Io {
                what: format!("rendering {}", template_path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
            }
        })?;

    let assets = dist.join(ASSETS);
    fs::create_dir_all(&assets).map_err(io_error(format!("creating {}", assets.display())))?;
    for (name, content) in &names {
        write_atomic(&assets.join(name), content)?;
    }
    // wasm-bindgen's inline JavaScript snippets are imported by relative path from the glue.
    let snippets = assets.join("snippets");
    let _ = fs::remove_dir_all(&snippets);
    if let Some(from) = &glue.snippets {
        copy_dir(from, &snippets)?;
    }
    write_atomic(&dist.join("index.html"), index.as_bytes())?;

    let keep: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
    let entries =
        fs::read_dir(&assets).map_err(io_error(format!("listing {}", assets.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "snippets" && !keep.contains(&name.as_str()) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(io_error(format!("creating {}", to.display())))?;
    let entries = fs::read_dir(from).map_err(io_error(format!("listing {}", from.display())))?;
    for entry in entries.flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .map_err(io_error(format!("copying to {}", target.display())))?;
        }
    }
    Ok(())
}

/// One file of the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSize {
    /// Relative to dist, with `/`.
    pub path: String,
    pub raw: u64,
    pub gzip: u64,
}

/// Every file of `dist` with its size, raw and gzipped (level 9, as servers and CDNs send it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<FileSize>,
}

impl Report {
    pub fn total_raw(&self) -> u64 {
        self.files.iter().map(|f| f.raw).sum()
    }

    pub fn total_gzip(&self) -> u64 {
        self.files.iter().map(|f| f.gzip).sum()
    }
}

pub fn gzip_len(content: &[u8]) -> u64 {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(content);
    encoder.finish().map(|v| v.len() as u64).unwrap_or_default()
}

pub fn measure(dist: &Path) -> Result<Report, Error> {
    let mut paths = Vec::new();
    collect(dist, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let content = read(&path)?;
        let relative = path.strip_prefix(dist).unwrap_or(&path);
        files.push(FileSize {
            path: relative.to_string_lossy().replace('\\', "/"),
            raw: content.len() as u64,
            gzip: gzip_len(&content),
        });
    }
    Ok(Report { files })
}

fn collect(dir: &Path, into: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(io_error(format!("listing {}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if path.is_dir() {
            collect(&path, into)?;
        } else if !hidden {
            into.push(path);
        }
    }
    Ok(())
}

/// `1.2 MB`, `35.4 KB`, `512 B` (decimal units, as browsers' network panels count).
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.2} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} KB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .files
            .iter()
            .map(|file| file.path.len())
            .max()
            .unwrap_or(4)
            .max(5);
        writeln!(f, "  {:<width$} {:>10} {:>10}", "file", "raw", "gzipped")?;
        for file in &self.files {
            writeln!(
                f,
                "  {:<width$} {:>10} {:>10}",
                file.path,
                human(file.raw),
                human(file.gzip)
            )?;
        }
        writeln!(
            f,
            "  {:<width$} {:>10} {:>10}   (the first load transfers all of these)",
            "total",
            human(self.total_raw()),
            human(self.total_gzip())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_change_with_content_only() {
        let a = hashed("faro", "js", b"one");
        assert_eq!(a, hashed("faro", "js", b"one"));
        assert_ne!(a, hashed("faro", "js", b"two"));
        assert!(a.starts_with("faro-") && a.ends_with(".js"));
        assert_eq!(a.len(), "faro-".len() + 16 + ".js".len());
    }

    #[test]
    fn index_points_at_the_assets_and_needs_every_placeholder() {
        let html = render_index(
            r#"<link href="{{css}}"><script src="{{js}}" data-wasm="{{wasm}}"></script>"#,
            "app-1.css",
            "faro-2.js",
            "faro_bg-3.wasm",
        )
        .unwrap();
        assert_eq!(
            html,
            r#"<link href="/assets/app-1.css"><script src="/assets/faro-2.js" data-wasm="/assets/faro_bg-3.wasm"></script>"#
        );
        assert!(render_index("{{css}} {{js}}", "a", "b", "c").is_err());
    }

    #[test]
    fn publishes_measures_and_drops_old_assets() {
        let root = std::env::temp_dir().join(format!("xtask-assets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let frontend = root.join("frontend");
        let out = root.join("out");
        fs::create_dir_all(frontend.join("style")).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(
            frontend.join(TEMPLATE),
            "<html>{{css}} {{js}} {{wasm}}</html>",
        )
        .unwrap();
        fs::write(frontend.join(STYLE), "body{}").unwrap();
        fs::write(out.join("faro.js"), "export default 1;").unwrap();
        fs::write(out.join("faro_bg.wasm"), b"\0asm").unwrap();
        let glue = Glue {
            js: out.join("faro.js"),
            wasm: out.join("faro_bg.wasm"),
            snippets: None,
        };
        let dist = root.join("dist");
        fs::create_dir_all(dist.join(ASSETS)).unwrap();
        fs::write(dist.join(ASSETS).join("faro-old.js"), "old").unwrap();
        fs::write(dist.join("config.json"), "{}").unwrap();

        publish(&glue, &frontend, &dist).unwrap();
        let report = measure(&dist).unwrap();
        let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths.len(), 5, "{paths:?}");
        assert!(paths.contains(&"config.json") && paths.contains(&"index.html"));
        assert!(!paths.iter().any(|p| p.contains("old")), "{paths:?}");
        let index = fs::read_to_string(dist.join("index.html")).unwrap();
        for path in paths.iter().filter(|p| p.starts_with("assets/")) {
            assert!(index.contains(&format!("/{path}")), "{index} names {path}");
        }
        assert_eq!(
            report.total_raw(),
            report.files.iter().map(|f| f.raw).sum::<u64>()
        );
        let shown = report.to_string();
        assert!(
            shown.contains("total") && shown.contains("index.html"),
            "{shown}"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn gzip_shrinks_repetition_and_sizes_read_well() {
        assert!(gzip_len(&[b'a'; 10_000]) < 100);
        assert_eq!(human(512), "512 B");
        assert_eq!(human(35_400), "35.4 KB");
        assert_eq!(human(1_234_567), "1.23 MB");
    }
}
