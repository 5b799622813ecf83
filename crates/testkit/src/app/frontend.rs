//! The built frontend, served by the app under test.

use std::path::{Path, PathBuf};

/// `frontend/dist` of the workspace (or `$FARO_E2E_DIST`), which must hold a build.
pub fn built() -> PathBuf {
    let dist = std::env::var_os("FARO_E2E_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("frontend/dist"));
    assert!(
        dist.join("index.html").is_file(),
        "{} holds no built frontend: run `cargo xtask frontend build --release` first \
         (`cargo xtask test` does it for you)",
        dist.display()
    );
    dist
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/testkit is inside the workspace")
        .to_path_buf()
}

/// A private copy of the build `from` for the app `name`, with a `config.json` pointing at its
/// own origin, so parallel tests and a running `cargo xtask dev` never share one.
pub fn private_copy(from: &Path, name: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("faro-e2e-{name}"));
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(from, &to);
    std::fs::write(
        to.join("config.json"),
        r#"{"api_base_url": "", "environment": "e2e"}"#,
    )
    .expect("write config.json");
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the build").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file of the build");
        }
    }
}
