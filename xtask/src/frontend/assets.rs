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
/// The templates (in `frontend/`) and the stylesheet.
const TEMPLATE: &str = "index.html";
const BOOT: &str = "boot.js";
const STYLE: &str = "style/app.css";

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

fn read_text(path: &Path) -> Result<String, Error> {
    String::from_utf8(read(path)?).map_err(|_| invalid(path, "not UTF-8".into()))
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::Io {
        what: format!("rendering {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
    }
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

/// Fills each `{{name}}` of `template` with the URL of the asset `file`; every one of them
/// must be there.
pub fn render(template: &str, assets: &[(&str, &str)]) -> Result<String, String> {
    let mut rendered = template.to_owned();
    for (name, file) in assets {
        let placeholder = format!("{{{{{name}}}}}");
        if !template.contains(&placeholder) {
            return Err(format!("the template has no {placeholder}"));
        }
        rendered = rendered.replace(&placeholder, &format!("/{ASSETS}/{file}"));
    }
    Ok(rendered)
}

/// The bootstrap module without its comment lines, which explain it to its readers and
/// would only add to every first load.
fn without_comments(script: &str) -> String {
    script
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Puts a build into `dist`: new assets first, then `index.html`, then the old assets go.
/// `config.json` and anything else outside `assets/` is left alone.
///
/// The app starts from `assets/boot-<hash>.js`, rendered from `frontend/boot.js` with the
/// glue's and the wasm's names, rather than from an inline script whose hash would change
/// with every build: the Content-Security-Policy allows scripts of the app's origin only.
pub fn publish(glue: &Glue, frontend: &Path, dist: &Path) -> Result<(), Error> {
    let js = read(&glue.js)?;
    let wasm = read(&glue.wasm)?;
    let css = read(&frontend.join(STYLE))?;
    let js_name = hashed(STEM, "js", &js);
    let wasm_name = hashed(&format!("{STEM}_bg"), "wasm", &wasm);
    let css_name = hashed("app", "css", &css);

    let boot_path = frontend.join(BOOT);
    let boot = render(
        &without_comments(&read_text(&boot_path)?),
        &[("js", &js_name), ("wasm", &wasm_name)],
    )
    .map_err(|reason| invalid(&boot_path, reason))?
    .into_bytes();
    let boot_name = hashed("boot", "js", &boot);

    let template_path = frontend.join(TEMPLATE);
    let index = render(
        &read_text(&template_path)?,
        &[
            ("css", &css_name),
            ("js", &js_name),
            ("wasm", &wasm_name),
            ("boot", &boot_name),
        ],
    )
    .map_err(|reason| invalid(&template_path, reason))?;

    let names = [
        (js_name, js),
        (wasm_name, wasm),
        (css_name, css),
        (boot_name, boot),
    ];
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
    fn templates_point_at_the_assets_and_need_every_placeholder() {
        let html = render(
            r#"<link href="{{css}}"><script src="{{js}}" data-wasm="{{wasm}}"></script>"#,
            &[
                ("css", "app-1.css"),
                ("js", "faro-2.js"),
                ("wasm", "faro_bg-3.wasm"),
            ],
        )
        .unwrap();
        assert_eq!(
            html,
            r#"<link href="/assets/app-1.css"><script src="/assets/faro-2.js" data-wasm="/assets/faro_bg-3.wasm"></script>"#
        );
        let missing = render(
            "{{css}} {{js}}",
            &[("css", "a"), ("js", "b"), ("boot", "c")],
        );
        assert_eq!(missing.unwrap_err(), "the template has no {{boot}}");
    }

    #[test]
    fn the_bootstrap_ships_without_its_comments() {
        let script = "// why it exists\n  // more of it\nimport init from \"x\";\ninit();\n";
        assert_eq!(
            without_comments(script),
            "import init from \"x\";\ninit();\n"
        );
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
            "<html>{{css}} {{js}} {{wasm}} {{boot}}</html>",
        )
        .unwrap();
        fs::write(
            frontend.join(BOOT),
            "// starts the app\nimport init from \"{{js}}\"; init(\"{{wasm}}\");\n",
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
        assert_eq!(paths.len(), 6, "{paths:?}");
        assert!(paths.contains(&"config.json") && paths.contains(&"index.html"));
        assert!(!paths.iter().any(|p| p.contains("old")), "{paths:?}");
        let index = fs::read_to_string(dist.join("index.html")).unwrap();
        let boot = paths
            .iter()
            .find(|p| p.starts_with("assets/boot-"))
            .unwrap();
        let boot_js = fs::read_to_string(dist.join(boot)).unwrap();
        for path in paths.iter().filter(|p| p.starts_with("assets/")) {
            let named =
                index.contains(&format!("/{path}")) || boot_js.contains(&format!("/{path}"));
            assert!(named, "{index} or {boot_js} names {path}");
        }
        // The bootstrap names the glue and the wasm, and the page names the bootstrap.
        assert!(
            boot_js.starts_with("import init from \"/assets/faro-"),
            "{boot_js}"
        );
        assert!(boot_js.contains("(\"/assets/faro_bg-"), "{boot_js}");
        assert!(index.contains(&format!("/{boot}")), "{index}");
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
