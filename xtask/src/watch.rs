//! Change detection for `cargo xtask dev` by polling modification times (no inotify crate needed,
//! and it sees changes made by any tool, on any file system).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the backend's build depends on, relative to the workspace root.
const WATCHED: &[&str] = &[
    "backend/src",
    "backend/migrations",
    "backend/build.rs",
    "backend/Cargo.toml",
    "Cargo.toml",
    "Cargo.lock",
];

/// Modification time and size of every watched file.
type Snapshot = BTreeMap<PathBuf, (SystemTime, u64)>;

#[derive(Debug)]
pub struct Watcher {
    root: PathBuf,
    /// What to watch instead of the backend's sources (`None`: the backend's).
    only: Option<&'static [&'static str]>,
    last: Snapshot,
}

impl Watcher {
    /// Starts watching; the current state is the baseline.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            only: None,
            last: scan(&roots(root)),
        }
    }

    /// Watches only these paths (relative to the root), such as the frontend's sources.
    pub fn of(root: &Path, only: &'static [&'static str]) -> Self {
        let mut watcher = Self {
            root: root.to_path_buf(),
            only: Some(only),
            last: Snapshot::new(),
        };
        watcher.last = scan(&watcher.roots());
        watcher
    }

    /// The watched files and folders that exist now (`crates/*/src` included).
    pub fn roots(&self) -> Vec<PathBuf> {
        match self.only {
            Some(only) => only
                .iter()
                .map(|p| self.root.join(p))
                .filter(|p| p.exists())
                .collect(),
            None => roots(&self.root),
        }
    }

    /// The paths (relative to the root) that changed, appeared or vanished since the last call.
    pub fn poll(&mut self) -> Option<Vec<PathBuf>> {
        let now = scan(&self.roots());
        let changed = diff(&self.last, &now);
        self.last = now;
        if changed.is_empty() {
            return None;
        }
        Some(
            changed
                .into_iter()
                .map(|p| {
                    p.strip_prefix(&self.root)
                        .map(Path::to_path_buf)
                        .unwrap_or(p)
                })
                .collect(),
        )
    }
}

fn roots(root: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = WATCHED.iter().map(|p| root.join(p)).collect();
    if let Ok(crates) = fs::read_dir(root.join("crates")) {
        let mut sources: Vec<PathBuf> = crates
            .flatten()
            .map(|entry| entry.path().join("src"))
            .collect();
        sources.sort();
        roots.extend(sources);
    }
    roots.retain(|p| p.exists());
    roots
}

fn scan(roots: &[PathBuf]) -> Snapshot {
    let mut snapshot = Snapshot::new();
    for root in roots {
        visit(root, &mut snapshot);
    }
    snapshot
}

fn visit(path: &Path, snapshot: &mut Snapshot) {
    let Ok(meta) = fs::metadata(path) else { return };
    if meta.is_dir() {
        let Ok(entries) = fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // editor swap files, backups and build output are no source
            if name.starts_with('.') || name.ends_with('~') || name == "target" {
                continue;
            }
            visit(&entry.path(), snapshot);
        }
    } else if meta.is_file() {
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        snapshot.insert(path.to_path_buf(), (modified, meta.len()));
    }
}

fn diff(before: &Snapshot, after: &Snapshot) -> Vec<PathBuf> {
    let mut changed: Vec<PathBuf> = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(before.keys().filter(|p| !after.contains_key(*p)).cloned());
    changed.sort();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn diff_sees_edits_additions_and_removals() {
        let t0 = SystemTime::UNIX_EPOCH;
        let t1 = t0 + Duration::from_secs(1);
        let before: Snapshot = [
            ("a".into(), (t0, 1)),
            ("b".into(), (t0, 1)),
            ("c".into(), (t0, 1)),
        ]
        .into();
        let after: Snapshot = [
            ("a".into(), (t0, 1)),
            ("b".into(), (t1, 1)),
            ("d".into(), (t0, 1)),
        ]
        .into();
        assert_eq!(
            diff(&before, &after),
            [PathBuf::from("b"), "c".into(), "d".into()]
        );
        assert!(diff(&after, &after).is_empty());
        // same time, other size (a fast rewrite)
        let resized: Snapshot = [("a".into(), (t0, 2))].into();
        assert_eq!(
            diff(&[("a".into(), (t0, 1))].into(), &resized),
            [PathBuf::from("a")]
        );
    }

    #[test]
    fn watches_only_what_it_is_told() {
        let root = std::env::temp_dir().join(format!("xtask-watch-only-{}", std::process::id()));
        fs::create_dir_all(root.join("frontend/src")).unwrap();
        fs::create_dir_all(root.join("backend/src")).unwrap();
        let mut watcher = Watcher::of(&root, &["frontend/src", "frontend/index.html"]);
        assert_eq!(watcher.roots(), [root.join("frontend/src")]);
        fs::write(root.join("backend/src/lib.rs"), "").unwrap();
        assert_eq!(watcher.poll(), None);
        fs::write(root.join("frontend/index.html"), "<html>").unwrap();
        assert_eq!(
            watcher.poll(),
            Some(vec![PathBuf::from("frontend/index.html")])
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn watches_a_tree() {
        let root = std::env::temp_dir().join(format!("xtask-watch-{}", std::process::id()));
        let src = root.join("backend/src");
        fs::create_dir_all(&src).unwrap();
        fs::create_dir_all(root.join("crates/types/src")).unwrap();
        fs::write(src.join("lib.rs"), "").unwrap();
        let mut watcher = Watcher::new(&root);
        assert_eq!(
            watcher.roots(),
            [src.clone(), root.join("crates/types/src")]
        );
        assert_eq!(watcher.poll(), None);
        fs::write(root.join("crates/types/src/lib.rs"), "// new").unwrap();
        fs::write(src.join(".lib.rs.swp"), "").unwrap();
        assert_eq!(
            watcher.poll(),
            Some(vec![PathBuf::from("crates/types/src/lib.rs")])
        );
        fs::remove_file(src.join("lib.rs")).unwrap();
        assert_eq!(
            watcher.poll(),
            Some(vec![PathBuf::from("backend/src/lib.rs")])
        );
        assert_eq!(watcher.poll(), None);
        fs::remove_dir_all(&root).unwrap();
    }
}
