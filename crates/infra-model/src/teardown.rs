//! What `destroy` deletes and what it keeps. CloudFormation refuses to delete a stack whose
//! exports another stack still imports, so a stack that holds data keeps with it every stack it
//! imports from (the data stack keeps the network: its database sits in the network's subnets).
//! The imports are read from the templates, not listed by hand, so a new import cannot make
//! `destroy` stop half-way.

use std::collections::{BTreeMap, BTreeSet};

use crate::environment::Environment;
use crate::files::Error;
use crate::template::{self, Retained};

/// Why a stack stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// It holds data, and `--include-data` was not given.
    HoldsData,
    /// Stacks that stay import its exports.
    NeededBy(Vec<String>),
}

/// One stack to delete, with the resources its deletion leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    pub stack: String,
    pub stateful: bool,
    pub retained: Vec<Retained>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Teardown {
    /// In deletion order: every importer before the stack it imports from.
    pub delete: Vec<Doomed>,
    /// Stack name → why it stays, in deployment order.
    pub keep: Vec<(String, Kept)>,
}

/// The teardown of every stack of `env` (deployed or not: the caller skips those that are not).
pub fn plan(env: &Environment, include_data: bool) -> Result<Teardown, Error> {
    let stacks = &env.manifest.stacks;
    let mut templates = Vec::with_capacity(stacks.len());
    for stack in stacks {
        let path = env.dir.join(&stack.template);
        let body = env.template_body(stack)?;
        templates
            .push(template::parse_template(&body).map_err(|reason| Error::Parse { path, reason })?);
    }
    let exporter: BTreeMap<String, &str> = stacks
        .iter()
        .zip(&templates)
        .flat_map(|(s, t)| {
            template::exports(t)
                .into_iter()
                .map(|e| (e, s.name.as_str()))
        })
        .collect();
    // Stack → the stacks it imports from.
    let needs: BTreeMap<&str, BTreeSet<&str>> = stacks
        .iter()
        .zip(&templates)
        .map(|(s, t)| {
            let from = template::imports(t)
                .iter()
                .filter_map(|name| exporter.get(name).copied())
                .filter(|from| *from != s.name)
                .collect();
            (s.name.as_str(), from)
        })
        .collect();

    let mut keep: BTreeMap<&str, Kept> = BTreeMap::new();
    if !include_data {
        for stack in stacks.iter().filter(|s| s.stateful) {
            keep.insert(&stack.name, Kept::HoldsData);
        }
        // Whatever a kept stack imports from stays too, transitively; stacks are listed in
        // deployment order (imports point up), so one pass from the bottom reaches everything.
        for stack in stacks.iter().rev() {
            if !keep.contains_key(stack.name.as_str()) {
                continue;
            }
            for from in &needs[stack.name.as_str()] {
                match keep
                    .entry(from)
                    .or_insert_with(|| Kept::NeededBy(Vec::new()))
                {
                    Kept::NeededBy(by) => by.insert(0, stack.name.clone()),
                    Kept::HoldsData => {}
                }
            }
        }
    }
    let delete = stacks
        .iter()
        .zip(&templates)
        .rev()
        .filter(|(s, _)| !keep.contains_key(s.name.as_str()))
        .map(|(s, t)| Doomed {
            stack: s.name.clone(),
            stateful: s.stateful,
            retained: template::retained(t),
        })
        .collect();
    let keep = stacks
        .iter()
        .filter_map(|s| Some((s.name.clone(), keep.remove(s.name.as_str())?)))
        .collect();
    Ok(Teardown { delete, keep })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn real(include_data: bool) -> Teardown {
        let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra");
        plan(&Environment::load(&infra, "staging").unwrap(), include_data).unwrap()
    }

    fn names(teardown: &Teardown) -> Vec<&str> {
        teardown.delete.iter().map(|d| d.stack.as_str()).collect()
    }

    #[test]
    fn without_data_the_data_stacks_keep_the_network_they_import_from() {
        let teardown = real(false);
        assert_eq!(
            teardown.keep,
            [
                ("network".to_string(), Kept::NeededBy(vec!["data".into()])),
                ("data".to_string(), Kept::HoldsData),
                ("registry".to_string(), Kept::HoldsData),
            ]
        );
        assert_eq!(
            names(&teardown),
            ["observability", "dns", "frontend", "service"]
        );
    }

    #[test]
    fn with_data_everything_goes_importers_first_and_the_retained_resources_are_named() {
        let teardown = real(true);
        assert!(teardown.keep.is_empty());
        assert_eq!(
            names(&teardown),
            [
                "observability",
                "dns",
                "frontend",
                "service",
                "registry",
                "data",
                "network"
            ]
        );
        let data = teardown.delete.iter().find(|d| d.stack == "data").unwrap();
        assert!(
            data.retained
                .iter()
                .any(|r| r.resource_type == "AWS::RDS::DBInstance" && r.policy == "Snapshot"),
            "{data:?}"
        );
    }
}
