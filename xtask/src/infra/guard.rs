//! Our cfn-guard rules: each must pass its pass fixture and fail its fail fixture (a rule that
//! cannot fail, or that skips everything, is caught), then every rule runs against the real
//! templates, where each must apply to at least one template and no template may break one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::tools::{CFN_GUARD_VERSION, cfn_guard};
use super::{CheckError, dir, template_paths};
use crate::proc;
use crate::workspace::Workspace;

/// One rule file: `infra/rules/<name>.guard` holding `rule <name>`.
#[derive(Debug)]
struct Rule {
    name: String,
    file: PathBuf,
}

fn rules(rules_dir: &Path) -> Result<Vec<Rule>, CheckError> {
    let entries = fs::read_dir(rules_dir).map_err(|e| {
        CheckError::new(
            format!("cannot read {}: {e}", rules_dir.display()),
            "the rules live in infra/rules/*.guard",
        )
    })?;
    let mut rules: Vec<Rule> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "guard"))
        .map(|file| Rule {
            name: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            file,
        })
        .collect();
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    if rules.is_empty() {
        return Err(CheckError::new(
            format!("no rules in {}", rules_dir.display()),
            "restore infra/rules/*.guard",
        ));
    }
    Ok(rules)
}

/// The verdicts of one data file: rule name → PASS, FAIL or SKIP.
type Verdicts = BTreeMap<String, &'static str>;

/// Runs `cfn-guard validate` with structured JSON output; data file path → verdicts.
fn validate(
    exe: &Path,
    rule_files: &[&Path],
    data: &[&Path],
) -> Result<BTreeMap<PathBuf, Verdicts>, CheckError> {
    let mut cmd = Command::new(exe);
    cmd.arg("validate");
    for file in rule_files {
        cmd.arg("--rules").arg(file);
    }
    for file in data {
        cmd.arg("--data").arg(file);
    }
    cmd.args([
        "--structured",
        "--output-format",
        "json",
        "--show-summary",
        "none",
    ]);
    let output = proc::capture("cfn-guard validate", &mut cmd, proc::OnShutdown::Abort)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Value = serde_json::from_str(&stdout).map_err(|e| {
        CheckError::new(
            format!(
                "cfn-guard gave no report ({}; {e}): {}",
                proc::describe(output.status),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            "a rule file has a syntax error, or a data file is not valid YAML",
        )
    })?;
    parse_report(&parsed)
        .map_err(|why| CheckError::new(why, "cfn-guard's JSON report changed shape"))
}

fn parse_report(report: &Value) -> Result<BTreeMap<PathBuf, Verdicts>, String> {
    let files = report.as_array().ok_or("the report is not a list")?;
    let mut out = BTreeMap::new();
    for file in files {
        let name = file["name"].as_str().ok_or("a file without a name")?;
        let mut verdicts = Verdicts::new();
        for (key, verdict) in [
            ("compliant", "PASS"),
            ("not_applicable", "SKIP"),
            ("not_compliant", "FAIL"),
        ] {
            for entry in file[key].as_array().into_iter().flatten() {
                let rule = entry
                    .as_str()
                    .or_else(|| entry["Rule"]["name"].as_str())
                    .ok_or_else(|| format!("unreadable entry in {key}: {entry}"))?;
                verdicts.insert(rule.to_string(), verdict);
            }
        }
        out.insert(PathBuf::from(name), verdicts);
    }
    Ok(out)
}

/// The fixture checks and the run against the real templates; a note with the counts.
pub fn guard(ws: &Workspace) -> Result<String, CheckError> {
    let exe = cfn_guard()?;
    let infra = dir(ws);
    let rules_dir = infra.join("rules");
    let rules = rules(&rules_dir)?;
    eprintln!(
        "\nxtask: cfn-guard {CFN_GUARD_VERSION}: {} rules, each against its fixtures, then all against the templates",
        rules.len()
    );
    let mut problems = Vec::new();

    // 1. Each rule passes its pass fixture and fails its fail fixture.
    let mut fixtures = 0;
    for rule in &rules {
        let fixture_dir = rules_dir.join("fixtures").join(&rule.name);
        let pass = fixture_dir.join("pass.yaml");
        let fail = fixture_dir.join("fail.yaml");
        if !pass.is_file() || !fail.is_file() {
            problems.push(format!(
                "{}: needs fixtures/{}/pass.yaml and fail.yaml",
                rule.name, rule.name
            ));
            continue;
        }
        fixtures += 2;
        let verdicts = validate(&exe, &[&rule.file], &[&pass, &fail])?;
        for (fixture, expected) in [(&pass, "PASS"), (&fail, "FAIL")] {
            let got = verdicts
                .get(fixture)
                .and_then(|v| v.get(&rule.name))
                .copied()
                .unwrap_or("MISSING (is the rule named after its file?)");
            if got != expected {
                problems.push(format!(
                    "{}: {} gives {got}, expected {expected}",
                    rule.name,
                    ws.display(fixture)
                ));
            }
        }
    }

    // 2. Every rule against every template.
    let templates = template_paths(&infra)?;
    let rule_files: Vec<&Path> = rules.iter().map(|r| r.file.as_path()).collect();
    let template_refs: Vec<&Path> = templates.iter().map(PathBuf::as_path).collect();
    let verdicts = validate(&exe, &rule_files, &template_refs)?;
    let mut applied = BTreeSet::new();
    let mut findings = 0;
    let mut failing_templates = Vec::new();
    for template in &templates {
        let Some(by_rule) = verdicts.get(template) else {
            problems.push(format!("no verdict for {}", ws.display(template)));
            continue;
        };
        for (rule, verdict) in by_rule {
            if *verdict != "SKIP" {
                applied.insert(rule.clone());
            }
            if *verdict == "FAIL" {
                findings += 1;
                problems.push(format!("{} breaks {rule}", ws.display(template)));
                if !failing_templates.contains(template) {
                    failing_templates.push(template.clone());
                }
            }
        }
    }
    for rule in &rules {
        if !applied.contains(&rule.name) {
            problems.push(format!(
                "{}: applies to none of the templates (it only skips: wrong resource type?)",
                rule.name
            ));
        }
    }
    // The readable report of what broke, from cfn-guard itself.
    for template in &failing_templates {
        let mut cmd = Command::new(&exe);
        cmd.arg("validate");
        for file in &rule_files {
            cmd.arg("--rules").arg(file);
        }
        cmd.arg("--data")
            .arg(template)
            .args(["--show-summary", "fail"]);
        let _ = proc::status("cfn-guard validate", &mut cmd);
    }

    if problems.is_empty() {
        Ok(format!(
            "{} rules, {fixtures} fixtures, {} templates, 0 findings",
            rules.len(),
            templates.len()
        ))
    } else {
        for problem in &problems {
            eprintln!("  {problem}");
        }
        Err(CheckError::new(
            format!(
                "cfn-guard: {} problems ({findings} findings in the templates)",
                problems.len()
            ),
            format!(
                "see the lines above; rerun one rule with `{} validate -r infra/rules/RULE.guard -d infra/TEMPLATE.yaml`",
                exe.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_cfn_guard_structured_reports() {
        let report = json!([
            {"name": "/a.yaml", "status": "FAIL", "compliant": ["x"], "not_applicable": ["y"],
             "not_compliant": [{"Rule": {"name": "z", "checks": []}}]},
            {"name": "/b.yaml", "status": "PASS", "compliant": ["z"], "not_applicable": [], "not_compliant": []}
        ]);
        let verdicts = parse_report(&report).unwrap();
        let a = &verdicts[Path::new("/a.yaml")];
        assert_eq!((a["x"], a["y"], a["z"]), ("PASS", "SKIP", "FAIL"));
        assert_eq!(verdicts[Path::new("/b.yaml")]["z"], "PASS");
        assert!(parse_report(&json!({"not": "a list"})).is_err());
    }
}
