//! checkov on the templates of `infra/stacks.json` (not the cfn-guard fixtures, which break rules
//! on purpose), with `infra/.checkov.yaml`: the framework, `--skip-download` (no call to Prisma
//! Cloud for guidelines or policies) and the checks skipped as accepted trade-offs, each with its
//! reason there and in docs/operations.md. Any finding, or a template it could not parse, fails.
//!
//! checkov comes from PyPI into a venv of its own, like cfn-lint: every package pinned in
//! `infra/checkov-requirements.txt`.

use std::process::Command;

use serde_json::Value;

use super::tools::{PythonTool, python_tool};
use super::{CheckError, dir, template_paths};
use crate::proc;
use crate::workspace::Workspace;

pub const CHECKOV: PythonTool = PythonTool {
    name: "checkov",
    version: "3.3.30",
    requirements: "infra/checkov-requirements.txt",
    version_check: "from importlib.metadata import version; print('checkov', version('checkov'))",
    expected: "about a minute",
};

/// The configuration, relative to `infra/`.
const CONFIG: &str = ".checkov.yaml";

/// checkov's entry point, run by the venv's Python (what the `checkov` script does, without the
/// script's absolute shebang).
const CHECKOV_MAIN: &str = "import sys, warnings; warnings.simplefilter('ignore', SyntaxWarning); \
    sys.argv[0] = 'checkov'; from checkov.main import Checkov; sys.exit(Checkov().run())";

/// What one run found, from checkov's JSON report.
#[derive(Debug, PartialEq)]
struct Report {
    passed: u64,
    parsing_errors: u64,
    /// `file:line: CHECK_ID name (resource)`.
    findings: Vec<String>,
}

fn parse_report(report: &Value) -> Result<Report, String> {
    // One framework gives one object; several give a list of them.
    let reports: Vec<&Value> = match report {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![report],
        _ => return Err("the report is neither an object nor a list".into()),
    };
    let mut out = Report {
        passed: 0,
        parsing_errors: 0,
        findings: Vec::new(),
    };
    for report in reports {
        let summary = &report["summary"];
        let count = |key: &str| {
            summary[key]
                .as_u64()
                .ok_or_else(|| format!("the summary has no {key}: {summary}"))
        };
        out.passed += count("passed")?;
        out.parsing_errors += count("parsing_errors")?;
        let failed = count("failed")?;
        let checks = report["results"]["failed_checks"].as_array();
        for check in checks.into_iter().flatten() {
            let line = check["file_line_range"][0].as_u64().unwrap_or_default();
            out.findings.push(format!(
                "{}:{line}: {} {} ({})",
                check["file_path"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/'),
                check["check_id"].as_str().unwrap_or_default(),
                check["check_name"].as_str().unwrap_or_default(),
                check["resource"].as_str().unwrap_or_default(),
            ));
        }
        if failed as usize > out.findings.len() {
            return Err(format!(
                "the summary counts {failed} failed checks, the results list {}",
                out.findings.len()
            ));
        }
    }
    Ok(out)
}

/// checkov on every template of `infra/stacks.json`, run in `infra/`; a note with the counts.
pub fn checkov(ws: &Workspace) -> Result<String, CheckError> {
    let python = python_tool(ws, &CHECKOV)?;
    let infra = dir(ws);
    let templates = template_paths(&infra)?;
    let mut cmd = Command::new(&python);
    cmd.current_dir(&infra)
        .args([
            "-c",
            CHECKOV_MAIN,
            "--config-file",
            CONFIG,
            "--skip-download",
        ])
        .args(["--output", "json", "--quiet", "--file"])
        .args(&templates)
        // Nor does it ask PyPI for a newer version: the run reaches no network at all.
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true");
    eprintln!(
        "\nxtask: checkov {} on {} templates (infra/{CONFIG})",
        CHECKOV.version,
        templates.len()
    );
    let output = proc::capture("checkov", &mut cmd, proc::OnShutdown::Abort)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout)
        .map_err(|e| e.to_string())
        .and_then(|json| parse_report(&json))
        .map_err(|why| {
            CheckError::new(
                format!(
                    "checkov gave no readable report ({}; {why}): {}",
                    proc::describe(output.status),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                format!(
                    "run it alone: `cd infra && checkov --config-file {CONFIG} -f network.yaml`"
                ),
            )
        })?;
    for finding in &report.findings {
        eprintln!("  {finding}");
    }
    if report.parsing_errors > 0 {
        return Err(CheckError::new(
            format!(
                "checkov could not parse {} templates",
                report.parsing_errors
            ),
            "cfn-lint's findings say what is wrong with them",
        ));
    }
    if !report.findings.is_empty() {
        return Err(CheckError::new(
            format!("checkov: {} findings", report.findings.len()),
            format!(
                "fix the templates (each line above is file:line: check (resource)); a finding \
                 accepted as a trade-off is skipped by ID in infra/{CONFIG}, with the reason \
                 there and in docs/operations.md"
            ),
        ));
    }
    if report.passed == 0 {
        return Err(CheckError::new(
            "checkov ran no check on the templates",
            format!("is `framework` in infra/{CONFIG} still cloudformation?"),
        ));
    }
    Ok(format!(
        "{} templates, {} checks passed, 0 findings",
        templates.len(),
        report.passed
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_checkov_json_reports_of_one_or_several_frameworks() {
        let one = json!({
            "summary": {"passed": 3, "failed": 1, "skipped": 2, "parsing_errors": 0},
            "results": {"failed_checks": [{
                "check_id": "CKV_AWS_18", "check_name": "Ensure the S3 bucket has access logging enabled",
                "resource": "AWS::S3::Bucket.Logs", "file_path": "/service.yaml", "file_line_range": [390, 418]
            }]}
        });
        let report = parse_report(&one).unwrap();
        assert_eq!(report.passed, 3);
        assert_eq!(
            report.findings,
            [
                "service.yaml:390: CKV_AWS_18 Ensure the S3 bucket has access logging enabled (AWS::S3::Bucket.Logs)"
            ]
        );
        let clean =
            json!({"summary": {"passed": 5, "failed": 0, "parsing_errors": 1}, "results": {}});
        let both = parse_report(&json!([one, clean])).unwrap();
        assert_eq!(
            (both.passed, both.parsing_errors, both.findings.len()),
            (8, 1, 1)
        );
        // A count without its findings is a report we misread, never a pass.
        let hidden =
            json!({"summary": {"passed": 5, "failed": 2, "parsing_errors": 0}, "results": {}});
        assert!(parse_report(&hidden).is_err());
        assert!(parse_report(&json!("text")).is_err());
    }

    #[test]
    fn requirements_pin_every_package() {
        let pins = crate::infra::tools::tests::pins(CHECKOV.requirements);
        assert!(pins.contains(&format!("checkov=={}", CHECKOV.version)));
        assert!(pins.iter().all(|p| p.contains("==")), "{pins:?}");
    }

    /// Each check skipped in infra/.checkov.yaml has its reason in a comment above it there, and
    /// docs/operations.md lists it.
    #[test]
    fn every_skipped_check_is_explained_and_documented() {
        let ws = Workspace::locate();
        let config = std::fs::read_to_string(dir(&ws).join(CONFIG)).unwrap();
        let parsed = super::super::yaml::parse_template(&config).unwrap();
        assert_eq!(parsed["skip-download"], true, "checkov must run offline");
        let skipped: Vec<&str> = parsed["skip-check"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        assert!(!skipped.is_empty());
        let docs = std::fs::read_to_string(ws.root.join("docs/operations.md")).unwrap();
        let lines: Vec<&str> = config.lines().collect();
        for id in skipped {
            assert!(
                docs.contains(&format!("`{id}`")),
                "docs/operations.md must list the skipped check `{id}` with why"
            );
            let at = lines
                .iter()
                .position(|l| l.trim() == format!("- {id}"))
                .unwrap_or_else(|| panic!("{id} is not a `- ID` line of infra/{CONFIG}"));
            // The reason: the comment right above, or above the run of IDs it belongs to.
            let above = lines[..at]
                .iter()
                .rev()
                .find(|l| !l.trim().starts_with("- "))
                .unwrap();
            assert!(
                above.trim().starts_with('#'),
                "{id} in infra/{CONFIG} needs a comment above it saying why it is skipped"
            );
        }
    }
}
