//! A change set as a reader wants it: what is added, modified, replaced or removed, with the
//! replacements and removals of resources that hold data called out, and parameter changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Resource types whose replacement or removal loses data.
const STATEFUL_TYPES: &[&str] = &[
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::DynamoDB::Table",
    "AWS::ECR::Repository",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::EFS::FileSystem",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Add,
    Modify,
    Replace,
    /// Replacement depends on a value known only during the update.
    MaybeReplace,
    Remove,
    Other,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Modify => "~",
            Self::Replace => "-/+",
            Self::MaybeReplace => "~?",
            Self::Remove => "-",
            Self::Other => "?",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Modify => "modify",
            Self::Replace => "REPLACE",
            Self::MaybeReplace => "modify (may replace)",
            Self::Remove => "REMOVE",
            Self::Other => "change",
        }
    }
}

/// One resource change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub logical_id: String,
    pub resource_type: String,
    /// Properties (or other causes) behind a modification.
    pub causes: Vec<String>,
}

impl Change {
    /// Replacing or removing this loses data.
    pub fn destroys_data(&self) -> bool {
        matches!(
            self.action,
            Action::Replace | Action::MaybeReplace | Action::Remove
        ) && STATEFUL_TYPES.contains(&self.resource_type.as_str())
    }
}

/// The diff of one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Parameter → (old, new), for parameters whose value changes.
    pub parameters: BTreeMap<String, (String, String)>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn dangerous(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.destroys_data()).collect()
    }

    pub fn counts(&self) -> String {
        let count =
            |pred: fn(&Action) -> bool| self.changes.iter().filter(|c| pred(&c.action)).count();
        format!(
            "{} to add, {} to modify, {} to replace, {} to remove",
            count(|a| *a == Action::Add),
            count(|a| matches!(a, Action::Modify | Action::MaybeReplace | Action::Other)),
            count(|a| *a == Action::Replace),
            count(|a| *a == Action::Remove),
        )
    }

    /// The diff as lines for the terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, (old, new)) in &self.parameters {
            let _ = writeln!(out, "    parameter {name}: {old} → {new}");
        }
        let mut changes = self.changes.clone();
        changes.sort_by(|a, b| (a.action, &a.logical_id).cmp(&(b.action, &b.logical_id)));
        for change in &changes {
            let flag = if change.destroys_data() {
                "  !! holds data"
            } else {
                ""
            };
            let causes = if change.causes.is_empty() {
                String::new()
            } else {
                format!(" ({})", change.causes.join(", "))
            };
            let _ = writeln!(
                out,
                "    {:<4}{} {} [{}]{causes}{flag}",
                change.action.symbol(),
                change.action.word(),
                change.logical_id,
                change.resource_type,
            );
        }
        out
    }
}

/// Maps CloudFormation's `Action` and `Replacement` fields.
pub fn action(action: &str, replacement: Option<&str>) -> Action {
    match (action, replacement) {
        ("Add", _) => Action::Add,
        ("Remove", _) => Action::Remove,
        ("Modify", Some("True")) => Action::Replace,
        ("Modify", Some("Conditional")) => Action::MaybeReplace,
        ("Modify", _) => Action::Modify,
        _ => Action::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: Action, id: &str, ty: &str) -> Change {
        Change {
            action,
            logical_id: id.into(),
            resource_type: ty.into(),
            causes: vec![],
        }
    }

    #[test]
    fn stateful_replacements_are_flagged() {
        let diff = Diff {
            changes: vec![
                change(Action::Replace, "Database", "AWS::RDS::DBInstance"),
                change(
                    Action::Replace,
                    "TaskDefinition",
                    "AWS::ECS::TaskDefinition",
                ),
                change(Action::Modify, "Table", "AWS::DynamoDB::Table"),
                change(Action::Remove, "Repo", "AWS::ECR::Repository"),
                change(Action::Add, "Alarm", "AWS::CloudWatch::Alarm"),
            ],
            parameters: BTreeMap::from([("ImageTag".into(), ("a".into(), "b".into()))]),
        };
        let dangerous: Vec<&str> = diff
            .dangerous()
            .iter()
            .map(|c| c.logical_id.as_str())
            .collect();
        assert_eq!(dangerous, ["Database", "Repo"]);
        let text = diff.render();
        assert!(text.contains("parameter ImageTag: a → b"), "{text}");
        assert!(
            text.contains("REPLACE Database [AWS::RDS::DBInstance]  !! holds data"),
            "{text}"
        );
        assert!(
            !text.contains("TaskDefinition [AWS::ECS::TaskDefinition]  !!"),
            "{text}"
        );
        assert_eq!(
            diff.counts(),
            "1 to add, 1 to modify, 2 to replace, 1 to remove"
        );
    }

    #[test]
    fn actions() {
        assert_eq!(action("Modify", Some("True")), Action::Replace);
        assert_eq!(action("Modify", Some("Conditional")), Action::MaybeReplace);
        assert_eq!(action("Modify", Some("False")), Action::Modify);
        assert_eq!(action("Add", None), Action::Add);
        assert_eq!(action("Dynamic", None), Action::Other);
    }
}
