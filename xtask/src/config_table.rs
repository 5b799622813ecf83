//! `cargo xtask config-table`: the README's table of the backend's configuration variables,
//! written from their list (`crates/config-vars`), so the two cannot drift apart. `--check` (and
//! the `tidy` step of `cargo xtask test`) fails while the README's copy differs.

use std::path::{Path, PathBuf};

use faro_config_vars::{ALL, Accepts, Fallback, Var};

use crate::Hint;
use crate::workspace::Workspace;

/// The lines around the generated table in README.md; the text between them is replaced.
const START: &str = "<!-- config-table: written by `cargo xtask config-table` from \
                     crates/config-vars/src/lib.rs; edit the list there -->";
const END: &str = "<!-- config-table end -->";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("README.md has no configuration table between the two config-table marker lines")]
    Markers,
    #[error(
        "README.md's configuration table differs from crates/config-vars; README has {found:?} \
         where the list gives {expected:?}"
    )]
    Stale { found: String, expected: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Io { .. } => "run xtask from the workspace".into(),
            Self::Markers => "put the two marker lines back around the table in README.md's \
                              Configuration section, then `cargo xtask config-table`"
                .into(),
            Self::Stale { .. } => "edit the variable in crates/config-vars/src/lib.rs (not \
                                   the README), then `cargo xtask config-table`"
                .into(),
        })
    }
}

/// Writes the table into README.md, or with `check` only compares.
pub fn run(ws: &Workspace, check: bool) -> Result<(), Error> {
    if check {
        return self::check(ws);
    }
    let path = readme(ws);
    let text = read(&path)?;
    let updated = splice(&text, &render(ALL))?;
    if updated == text {
        eprintln!("xtask: README.md's configuration table is up to date");
        return Ok(());
    }
    std::fs::write(&path, updated).map_err(|source| Error::Io {
        action: "write",
        path,
        source,
    })?;
    eprintln!("xtask: wrote README.md's configuration table");
    Ok(())
}

/// Whether README.md's table is the one the list gives.
pub fn check(ws: &Workspace) -> Result<(), Error> {
    compare(&read(&readme(ws))?, &render(ALL))
}

fn readme(ws: &Workspace) -> PathBuf {
    ws.root.join("README.md")
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

/// The table between the markers of `text`, as its lines.
fn current(text: &str) -> Result<std::ops::Range<usize>, Error> {
    let start = text.find(START).ok_or(Error::Markers)?;
    let body = start + START.len();
    let end = text[body..].find(END).ok_or(Error::Markers)?;
    Ok(body..body + end)
}

fn splice(text: &str, table: &str) -> Result<String, Error> {
    let range = current(text)?;
    Ok(format!(
        "{}\n{table}{}",
        &text[..range.start],
        &text[range.end..]
    ))
}

fn compare(text: &str, table: &str) -> Result<(), Error> {
    let range = current(text)?;
    let found: Vec<&str> = text[range].lines().skip(1).collect();
    let expected: Vec<&str> = table.lines().collect();
    let differs = (0..found.len().max(expected.len()))
        .find(|&i| found.get(i) != expected.get(i))
        .map(|i| Error::Stale {
            found: found.get(i).copied().unwrap_or("(nothing)").into(),
            expected: expected.get(i).copied().unwrap_or("(nothing)").into(),
        });
    differs.map_or(Ok(()), Err)
}

/// The Markdown table, one row per variable, in the list's order.
fn render(vars: &[Var]) -> String {
    let mut table = String::from(
        "| variable | default | dev, test | accepts | meaning |\n|---|---|---|---|---|\n",
    );
    for var in vars {
        let secret = if var.secret { " (secret)" } else { "" };
        table.push_str(&format!(
            "| `{}`{secret} | {} | {} | {} | {} |\n",
            var.name,
            fallback(var.default),
            local(var),
            accepts(var.accepts),
            var.meaning
        ));
    }
    table
}

fn fallback(default: Fallback) -> String {
    match default {
        Fallback::Required => "required".into(),
        Fallback::Unset => "unset".into(),
        Fallback::Value("") => "empty".into(),
        Fallback::Value(value) => format!("`{value}`"),
    }
}

/// The defaults in dev and test, where they differ from the deployed one.
fn local(var: &Var) -> String {
    match (var.local, var.dev) {
        (None, None) => String::new(),
        (Some(local), None) => format!("`{local}`"),
        (None, Some(dev)) => format!("dev: `{dev}`"),
        (Some(local), Some(dev)) => format!("dev: `{dev}`, test: `{local}`"),
    }
}

fn accepts(accepts: Accepts) -> String {
    let words = |words: &[&str]| {
        words
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match accepts {
        Accepts::Flag => words(&["true", "false"]),
        Accepts::OneOf(choices) => words(choices),
        Accepts::Duration { unit, min, max } => format!("{min}–{max} {}", unit.symbol()),
        Accepts::Count { of, min, max } => format!("{min}–{max} {of}"),
        Accepts::Bytes { min, max } => format!("{min}–{max} bytes"),
        Accepts::Text(text) => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_config_vars as var;

    fn readme_with(table: &str) -> String {
        format!("# Faro\n\n## Configuration\n\nIntro.\n\n{START}\n{table}{END}\n\n## Next\n")
    }

    #[test]
    fn rows_show_defaults_ranges_and_secrets() {
        let table = render(&[
            var::FARO_SHUTDOWN_DRAIN_SECS,
            var::FARO_LOG_FORMAT,
            var::DATABASE_URL,
            var::FARO_CORS_ORIGINS,
        ]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 6, "{table}");
        assert_eq!(
            rows[2],
            "| `FARO_SHUTDOWN_DRAIN_SECS` | `10` | `0` | 0–25 s | after SIGTERM, keep serving \
             while `/readyz` says 503 |"
        );
        assert!(
            rows[3]
                .starts_with("| `FARO_LOG_FORMAT` | `json` | dev: `pretty` | `json`, `pretty` |"),
            "{}",
            rows[3]
        );
        assert!(
            rows[4].starts_with("| `DATABASE_URL` (secret) | required |"),
            "{}",
            rows[4]
        );
        assert!(rows[5].contains("| empty |"), "{}", rows[5]);
    }

    #[test]
    fn writing_replaces_only_the_table_and_then_checks() {
        let old = readme_with("| variable | default |\n|---|---|\n| `OLD` | `1` |\n");
        let table = render(ALL);
        let new = splice(&old, &table).unwrap();
        assert_eq!(new, readme_with(&table));
        assert!(compare(&new, &table).is_ok());
        assert_eq!(
            splice(&new, &table).unwrap(),
            new,
            "a second write changes nothing"
        );
    }

    #[test]
    fn an_edited_row_a_missing_row_or_missing_markers_fail_the_check() {
        let table = render(ALL);
        let edited = readme_with(&table).replace("| `8080` |", "| `8081` |");
        match compare(&edited, &table) {
            Err(Error::Stale { found, expected }) => {
                assert!(found.starts_with("| `FARO_PORT` | `8081` |"), "{found}");
                assert!(
                    expected.starts_with("| `FARO_PORT` | `8080` |"),
                    "{expected}"
                );
            }
            other => panic!("{other:?}"),
        }
        let last_row = table.lines().last().unwrap();
        let shorter = readme_with(&table).replace(&format!("{last_row}\n"), "");
        assert!(
            matches!(compare(&shorter, &table), Err(Error::Stale { found, .. }) if found == "(nothing)")
        );
        let unmarked = readme_with(&table).replace(END, "");
        assert!(matches!(compare(&unmarked, &table), Err(Error::Markers)));
    }
}
