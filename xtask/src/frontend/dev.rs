//! The app as `cargo xtask dev` serves it: a debug build (quick to rebuild) in
//! `frontend/dist/`, a `config.json` for the backend's own origin, and a rebuild whenever the
//! frontend's sources or the shared API types change. The backend serves the folder
//! (`FARO_FRONTEND_DIR`), so a reload of the page shows the new build.

use std::path::PathBuf;
use std::time::Instant;

use super::{DIST, Error, build, write_config};
use crate::watch::Watcher;
use crate::workspace::Workspace;

/// What the app's build depends on, relative to the workspace root.
const SOURCES: &[&str] = &[
    "frontend/src",
    "frontend/style",
    "frontend/index.html",
    "frontend/boot.js",
    "frontend/Cargo.toml",
    "crates/types/src",
];

/// The environment name the app shows in its header.
const ENVIRONMENT: &str = "dev";

#[derive(Debug)]
pub struct DevFrontend {
    dist: PathBuf,
    watcher: Watcher,
}

impl DevFrontend {
    /// Builds the app and writes its `config.json`; changes from now on trigger rebuilds.
    pub fn start(ws: &Workspace) -> Result<Self, Error> {
        // Watching starts before the build, so edits made while it runs count too.
        let watcher = Watcher::of(&ws.root, SOURCES);
        let built = build(ws, false)?;
        write_config(&built.dist, "", ENVIRONMENT)?;
        Ok(Self {
            dist: ws.root.join(DIST),
            watcher,
        })
    }

    /// The backend's variable that serves the app.
    pub fn env(&self) -> (&'static str, String) {
        (
            "FARO_FRONTEND_DIR",
            self.dist.to_string_lossy().into_owned(),
        )
    }

    pub fn watched(&self) -> Vec<PathBuf> {
        self.watcher.roots()
    }

    /// Rebuilds when a source changed; a failed build keeps the previous one served.
    pub fn poll(&mut self, ws: &Workspace) {
        let Some(changed) = self.watcher.poll() else {
            return;
        };
        let first = changed
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let more = match changed.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        eprintln!("xtask: {first}{more} changed; rebuilding the app");
        let started = Instant::now();
        match build(ws, false).and_then(|built| write_config(&built.dist, "", ENVIRONMENT)) {
            Ok(()) => eprintln!(
                "xtask: app rebuilt ({:.1} s); reload the page",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("xtask: the app did not build ({e}); the previous build stays served")
            }
        }
    }
}
