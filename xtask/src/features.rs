//! Why xtask lists dependencies its code does not use.
//!
//! `cargo xtask` is `cargo run -p xtask`, and cargo resolves features for the packages a command
//! builds: alone, xtask's dependencies get fewer features than in the `--workspace` build of
//! `cargo xtask test`, and every one of them is compiled twice on a fresh machine (serde, syn,
//! tokio and 30 more: about three CPU-minutes). Cargo 1.95 has no stable way to unify features
//! across the workspace, so the root `Cargo.toml` pins, for xtask, the features the workspace
//! activates; the test below fails, naming the crates, when that list falls behind.

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;
    use std::process::Command;

    /// (built for the host's proc-macros and build scripts?, "name vX.Y.Z") → features.
    type Features = BTreeMap<(bool, String), BTreeSet<String>>;

    /// Reads `cargo tree --prefix indent -f '{p}|{f}'`: a package is on the host side below a
    /// `[build-dependencies]` heading or a proc-macro.
    fn parse(text: &str) -> Features {
        let mut features = Features::new();
        let mut open: Vec<(usize, bool)> = Vec::new();
        for line in text.lines() {
            let Some((indent, body)) = line
                .char_indices()
                .find(|(_, c)| c.is_ascii_alphanumeric() || *c == '[')
                .map(|(at, _)| (line[..at].chars().count(), &line[at..]))
            else {
                open.clear();
                continue;
            };
            while open.last().is_some_and(|&(at, _)| at >= indent) {
                open.pop();
            }
            let host = open.last().is_some_and(|&(_, host)| host);
            if body.starts_with('[') {
                open.push((indent, host || body.starts_with("[build-dependencies]")));
                continue;
            }
            let Some((package, list)) = body.split_once('|') else {
                continue;
            };
            let host = host || package.contains("(proc-macro)");
            let name: Vec<&str> = package.split_whitespace().take(2).collect();
            features.entry((host, name.join(" "))).or_default().extend(
                list.replace("(*)", "")
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(String::from),
            );
            open.push((indent, host));
        }
        features
    }

    fn tree(args: &[&str]) -> Features {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let output = Command::new(cargo)
            .current_dir(root)
            .args(["tree", "--prefix", "indent", "--format", "{p}|{f}"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse(&String::from_utf8_lossy(&output.stdout))
    }

    #[test]
    fn its_dependencies_have_the_workspaces_features() {
        let alone = tree(&["-p", "xtask", "-e", "normal,build"]);
        let workspace = tree(&["--workspace", "-e", "normal,build,dev"]);
        assert!(alone.len() > 20 && workspace.len() > alone.len());
        let differ: Vec<String> = alone
            .iter()
            .filter_map(|(key, features)| {
                let theirs = workspace.get(key)?;
                (theirs != features).then(|| {
                    format!(
                        "{}{}: the workspace has {theirs:?}, xtask alone {features:?}",
                        key.1,
                        if key.0 { " (host)" } else { "" }
                    )
                })
            })
            .collect();
        assert!(
            differ.is_empty(),
            "pin these features for xtask in the root Cargo.toml (as build-dependencies of \
             xtask for the host side), or cargo xtask compiles them twice:\n{}",
            differ.join("\n")
        );
    }

    #[test]
    fn reads_host_and_target_sides_of_a_tree() {
        let text = "\
app v0.1.0 (/w/app)|
├── serde v1.0.0|default,std
│   └── serde_derive v1.0.0 (proc-macro)|default
│       └── syn v2.0.0|full
└── syn v2.0.0|parsing
[build-dependencies]
└── cc v1.0.0|
";
        let features = parse(text);
        let key = |host: bool, name: &str| (host, name.to_string());
        assert_eq!(features[&key(false, "syn v2.0.0")].len(), 1);
        assert!(features[&key(true, "syn v2.0.0")].contains("full"));
        assert!(features.contains_key(&key(true, "serde_derive v1.0.0")));
        assert!(features.contains_key(&key(true, "cc v1.0.0")));
        assert!(features[&key(false, "serde v1.0.0")].contains("std"));
    }
}
