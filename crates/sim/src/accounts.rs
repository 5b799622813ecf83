//! SleakOps accounts: each API key belongs to one account, which owns some projects, each
//! with its environments. A key reaches only its own account's projects, builds and
//! deployments.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

/// Projects by name, each with its environments' names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Projects(BTreeMap<String, BTreeSet<String>>);

impl Projects {
    pub fn new() -> Self {
        Self::default()
    }

    /// These projects and `project` with `environments` (added to those it already has).
    pub fn with<E: Into<String>>(
        mut self,
        project: impl Into<String>,
        environments: impl IntoIterator<Item = E>,
    ) -> Self {
        self.0
            .entry(project.into())
            .or_default()
            .extend(environments.into_iter().map(Into::into));
        self
    }

    /// Adds `other`'s projects and environments to these.
    pub fn merge(&mut self, other: Projects) {
        for (project, environments) in other.0 {
            self.0.entry(project).or_default().extend(environments);
        }
    }

    pub fn has_project(&self, project: &str) -> bool {
        self.0.contains_key(project)
    }

    pub fn has_environment(&self, project: &str, environment: &str) -> bool {
        self.0
            .get(project)
            .is_some_and(|environments| environments.contains(environment))
    }

    /// Every (project, environment) pair, by project then environment name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().flat_map(|(project, environments)| {
            environments
                .iter()
                .map(move |environment| (project.as_str(), environment.as_str()))
        })
    }
}

/// What a key's account reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// Tells the account's builds and deployments from others'.
    pub id: u64,
    /// `None`: any project and environment name (the pre-made account of
    /// [`crate::sleakops::Options`] without projects, as before there were accounts).
    pub projects: Option<Projects>,
}

impl Account {
    pub fn reaches_project(&self, project: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|p| p.has_project(project))
    }

    pub fn reaches_environment(&self, project: &str, environment: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|p| p.has_environment(project, environment))
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    by_key: HashMap<String, Account>,
}

/// The accounts of one simulator; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accounts {
    registry: Arc<Mutex<Registry>>,
}

impl Accounts {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files an account under `key` (replacing one it had).
    pub fn insert(&self, key: &str, projects: Option<Projects>) {
        let mut registry = self.lock();
        registry.next_id += 1;
        let id = registry.next_id;
        registry
            .by_key
            .insert(key.to_owned(), Account { id, projects });
    }

    /// A new account owning `projects`, under a fresh random key.
    pub fn create(&self, projects: Projects) -> String {
        let mut rng = fastrand::Rng::new();
        loop {
            let key = format!(
                "sim-so-{}",
                std::iter::repeat_with(|| rng.alphanumeric())
                    .take(32)
                    .collect::<String>()
            );
            if self.get(&key).is_none() {
                self.insert(&key, Some(projects));
                return key;
            }
        }
    }

    /// Adds `projects` to the account of `key`; false when no account has that key. The
    /// pre-made account that reaches everything stays so.
    pub fn add_projects(&self, key: &str, projects: Projects) -> bool {
        match self.lock().by_key.get_mut(key) {
            Some(account) => {
                if let Some(own) = &mut account.projects {
                    own.merge(projects);
                }
                true
            }
            None => false,
        }
    }

    pub fn get(&self, key: &str) -> Option<Account> {
        self.lock().by_key.get(key).cloned()
    }
}

/// How a key shows in the simulator's stats: `sha256:` and the first 12 hex digits of the
/// SHA-256 of the key. Unlike its last characters, it tells any two keys apart, and it
/// gives nothing of the key away.
pub fn key_fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("sha256:{}", &hex::encode(digest)[..12])
}

/// The head of `branch` of the account's `project`: 40 hex digits of the SHA-256 of the
/// seed, the account, the project and the branch (each length-prefixed, so no two tuples
/// give the same input).
pub(crate) fn branch_head(seed: u64, account: &Account, project: &str, branch: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(seed.to_be_bytes());
    digest.update(account.id.to_be_bytes());
    for part in [project, branch] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    hex::encode(digest.finalize())[..40].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_reaches_its_own_projects_and_environments_only() {
        let accounts = Accounts::default();
        let key = accounts.create(Projects::new().with("shop", ["staging"]));
        let account = accounts.get(&key).expect("created");
        assert!(account.reaches_project("shop"));
        assert!(account.reaches_environment("shop", "staging"));
        assert!(!account.reaches_environment("shop", "production"));
        assert!(!account.reaches_project("blog"));

        assert!(accounts.add_projects(&key, Projects::new().with("shop", ["production"])));
        let account = accounts.get(&key).expect("still there");
        assert!(account.reaches_environment("shop", "production"));
        assert!(account.reaches_environment("shop", "staging"), "kept");
        assert!(!accounts.add_projects("unknown", Projects::new()));
    }

    #[test]
    fn fresh_keys_differ_and_fingerprints_hide_them() {
        let accounts = Accounts::default();
        let (a, b) = (
            accounts.create(Projects::new()),
            accounts.create(Projects::new()),
        );
        assert_ne!(a, b);
        assert_ne!(accounts.get(&a), accounts.get(&b));
        let fingerprint = key_fingerprint(&a);
        assert_eq!(fingerprint.len(), "sha256:".len() + 12);
        assert!(fingerprint.starts_with("sha256:"), "{fingerprint}");
        assert_ne!(fingerprint, key_fingerprint(&b));
    }
}
