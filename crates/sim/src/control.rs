//! What a test (or a person, through `/_sim/…`) can change while a simulator runs: faults,
//! pacing, holding SleakOps' work short of its end, SleakOps' accounts, and the request
//! counters.

use crate::accounts::{Account, Accounts, Projects, key_fingerprint};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// Faults to inject into the requests that match `path` and `method` (all when unset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added before answering, in milliseconds.
    pub latency_ms: u64,
    /// Added after the request was acted on, before its answer leaves, in milliseconds: the
    /// service did the work (a build was started) and its answer is late, as when its
    /// network is slow. A client that gives up first does not know what happened.
    pub answer_delay_ms: u64,
    /// Answer with this status (and the service's error body for it). With `failure_rate`
    /// 0 every matching request fails; otherwise that share of them.
    pub status: Option<u16>,
    /// Share (0–1) of matching requests that fail, with `status` or else 500.
    pub failure_rate: f64,
    /// Read the request, then close the connection without answering.
    pub drop_connections: bool,
    /// Cut answers off halfway: JSON bodies lose their second half, streams stop before
    /// `data: [DONE]`.
    pub truncate: bool,
    /// Only the next this many matching requests; then the faults clear themselves.
    pub times: Option<u32>,
    /// Only requests whose path contains this.
    pub path: Option<String>,
    /// Only requests with this method (`GET`, `POST`).
    pub method: Option<String>,
    /// Only requests that carry this API key, so that one key's calls fail while
    /// another's go through.
    pub key: Option<String>,
}

impl Faults {
    pub fn none() -> Self {
        Self::default()
    }

    /// Every matching request answered with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    pub fn latency(latency: Duration) -> Self {
        Self {
            latency_ms: latency.as_millis() as u64,
            ..Self::default()
        }
    }

    /// Every matching request acted on at once and answered after `delay`.
    pub fn answer_delay(delay: Duration) -> Self {
        Self {
            answer_delay_ms: delay.as_millis() as u64,
            ..Self::default()
        }
    }

    pub fn drop_connections() -> Self {
        Self {
            drop_connections: true,
            ..Self::default()
        }
    }

    pub fn truncate() -> Self {
        Self {
            truncate: true,
            ..Self::default()
        }
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn on(mut self, method: &str, path: &str) -> Self {
        self.method = Some(method.to_owned());
        self.path = Some(path.to_owned());
        self
    }

    /// Only the requests that carry `key`.
    pub fn for_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn is_active(&self) -> bool {
        self.times != Some(0)
            && (self.latency_ms > 0
                || self.answer_delay_ms > 0
                || self.status.is_some()
                || self.failure_rate > 0.0
                || self.drop_connections
                || self.truncate)
    }

    fn matches(&self, method: &str, path: &str, key: Option<&str>) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| path.contains(p))
            && self.key.as_deref().is_none_or(|k| key == Some(k))
    }
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub latency: Duration,
    pub answer_delay: Duration,
    pub drop: bool,
    pub status: Option<u16>,
    pub truncate: bool,
}

/// Pacing of the simulated work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// DeepSeek: the pause between two streamed tokens.
    pub token_delay_ms: u64,
    /// SleakOps: how long a build or deployment stays in each of `initial` and `creating`
    /// (0: it is finished as soon as it is created). Applies to jobs created afterwards.
    pub step_ms: u64,
    /// SleakOps: `GET project-env/` answers Django REST framework pages
    /// (`{"count", "next", "previous", "results"}`, `?page=N`) of this many; 0 (the default)
    /// answers one plain JSON array, which is how the SleakOps CLI reads it.
    pub page_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_delay_ms: 0,
            step_ms: 1000,
            page_size: 0,
        }
    }
}

/// The request counters: `"<METHOD> <path>"` with numeric path segments as `{id}`, and
/// requests by API key, each key shown as its [`key_fingerprint`] (never the key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    pub requests: BTreeMap<String, u64>,
    #[serde(default)]
    pub by_key: BTreeMap<String, u64>,
}

struct Shared {
    faults: Mutex<Faults>,
    settings: Mutex<Settings>,
    held: Mutex<bool>,
    stats: Mutex<Stats>,
    rng: Mutex<fastrand::Rng>,
    /// What the simulated repositories' branch heads derive from ([`Control::branch_head`]).
    seed: u64,
    accounts: Accounts,
}

/// The handle of one running simulator; clones control the same one.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("faults", &self.faults())
            .field("settings", &self.settings())
            .field("held", &self.is_held())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The counter key of a request.
pub fn route_key(method: &str, path: &str) -> String {
    let path: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect();
    format!("{} {}", method.to_ascii_uppercase(), path.join("/"))
}

impl Control {
    pub(crate) fn new(settings: Settings, seed: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                faults: Mutex::new(Faults::none()),
                settings: Mutex::new(settings),
                held: Mutex::new(false),
                stats: Mutex::new(Stats::default()),
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
                seed,
                accounts: Accounts::default(),
            }),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    pub fn clear_faults(&self) {
        self.set_faults(Faults::none());
    }

    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    pub fn settings(&self) -> Settings {
        *lock(&self.shared.settings)
    }

    pub fn set_settings(&self, settings: Settings) {
        *lock(&self.shared.settings) = settings;
    }

    /// SleakOps: no build or deployment ends (`creating` at most, whatever the pacing says)
    /// until [`Control::resume`]; DeepSeek: no streamed answer sends its last part. A test holds one so that it can act while the work is
    /// certainly still running, however slowly the test itself runs.
    pub fn hold(&self) {
        *lock(&self.shared.held) = true;
    }

    /// Ends a [`Control::hold`]: every build and deployment is again where its pacing puts it,
    /// so those older than two steps have ended.
    pub fn resume(&self) {
        *lock(&self.shared.held) = false;
    }

    pub fn is_held(&self) -> bool {
        *lock(&self.shared.held)
    }

    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Requests received for `key` (see [`route_key`]), faulted ones included.
    pub fn requests(&self, key: &str) -> u64 {
        lock(&self.shared.stats)
            .requests
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        lock(&self.shared.stats).total
    }

    /// Requests received with `key` (faulted ones included), whatever their route.
    pub fn requests_by_key(&self, key: &str) -> u64 {
        lock(&self.shared.stats)
            .by_key
            .get(&key_fingerprint(key))
            .copied()
            .unwrap_or(0)
    }

    /// SleakOps: a new account that owns `projects`; its fresh random API key.
    pub fn create_account(&self, projects: Projects) -> String {
        self.shared.accounts.create(projects)
    }

    /// SleakOps: adds `projects` (and environments) to the account of `key`; false when no
    /// account has that key.
    pub fn add_projects(&self, key: &str, projects: Projects) -> bool {
        self.shared.accounts.add_projects(key, projects)
    }

    /// SleakOps: the commit at the head of `branch` of `project` in the account of `key`
    /// (`None` for an unknown key), which a build of that branch without a `commit` builds
    /// and reports. It never moves: a test predicts the commit a release of a branch head
    /// records.
    pub fn branch_head(&self, key: &str, project: &str, branch: &str) -> Option<String> {
        self.account(key)
            .map(|account| self.head_of(&account, project, branch))
    }

    pub(crate) fn head_of(&self, account: &Account, project: &str, branch: &str) -> String {
        crate::accounts::branch_head(self.shared.seed, account, project, branch)
    }

    pub(crate) fn accounts(&self) -> &Accounts {
        &self.shared.accounts
    }

    pub(crate) fn account(&self, key: &str) -> Option<Account> {
        self.shared.accounts.get(key)
    }

    /// Clears the faults, a hold and the counters; accounts, builds and deployments stay.
    pub fn reset(&self) {
        self.clear_faults();
        self.resume();
        *lock(&self.shared.stats) = Stats::default();
    }

    pub(crate) fn count(&self, method: &str, path: &str, key: Option<&str>) {
        let mut stats = lock(&self.shared.stats);
        stats.total += 1;
        *stats.requests.entry(route_key(method, path)).or_default() += 1;
        if let Some(key) = key {
            *stats.by_key.entry(key_fingerprint(key)).or_default() += 1;
        }
    }

    /// Decides the faults of one request (carrying `key`), using up one of `times`.
    pub(crate) fn plan(&self, method: &str, path: &str, key: Option<&str>) -> Plan {
        let mut faults = lock(&self.shared.faults);
        if !faults.is_active() || !faults.matches(method, path, key) {
            return Plan::default();
        }
        if let Some(times) = &mut faults.times {
            *times -= 1;
        }
        let failing = match (faults.status, faults.failure_rate) {
            (Some(_), rate) if rate <= 0.0 => true,
            (_, rate) if rate > 0.0 => lock(&self.shared.rng).f64() < rate,
            _ => false,
        };
        let plan = Plan {
            latency: Duration::from_millis(faults.latency_ms),
            answer_delay: Duration::from_millis(faults.answer_delay_ms),
            drop: faults.drop_connections,
            status: failing.then(|| faults.status.unwrap_or(500)),
            truncate: faults.truncate,
        };
        if faults.times == Some(0) {
            *faults = Faults::none();
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_hide_ids() {
        assert_eq!(
            route_key("get", "/api/cli-build/42/"),
            "GET /api/cli-build/{id}/"
        );
        assert_eq!(
            route_key("POST", "/chat/completions"),
            "POST /chat/completions"
        );
    }

    #[test]
    fn faults_match_filter_and_use_up_their_times() {
        let control = Control::new(Settings::default(), 1);
        control.set_faults(Faults::status(503).on("POST", "cli-build").times(2));
        assert_eq!(
            control.plan("GET", "/api/cli-build/1/", None),
            Plan::default()
        );
        assert_eq!(
            control.plan("POST", "/api/cli-build/", None).status,
            Some(503)
        );
        assert_eq!(
            control.plan("POST", "/api/cli-build/", None).status,
            Some(503)
        );
        assert_eq!(
            control.plan("POST", "/api/cli-build/", None),
            Plan::default()
        );
        assert_eq!(control.faults(), Faults::none());
    }

    #[test]
    fn faults_for_a_key_spare_other_keys() {
        let control = Control::new(Settings::default(), 1);
        control.set_faults(Faults::status(502).for_key("bad"));
        assert_eq!(control.plan("GET", "/x", Some("good")), Plan::default());
        assert_eq!(control.plan("GET", "/x", None), Plan::default());
        assert_eq!(control.plan("GET", "/x", Some("bad")).status, Some(502));
    }

    #[test]
    fn requests_are_counted_by_key_fingerprint() {
        let control = Control::new(Settings::default(), 1);
        control.count("GET", "/api/project-env/", Some("key-one"));
        control.count("GET", "/api/project-env/", Some("key-one"));
        control.count("GET", "/api/project-env/", None);
        assert_eq!(control.requests_by_key("key-one"), 2);
        assert_eq!(control.requests_by_key("key-two"), 0);
        let stats = serde_json::to_string(&control.stats()).expect("json");
        assert!(!stats.contains("key-one"), "{stats}");
    }

    #[test]
    fn a_failure_rate_fails_about_that_share() {
        let control = Control::new(Settings::default(), 7);
        control.set_faults(Faults {
            failure_rate: 0.5,
            ..Faults::default()
        });
        let failed = (0..1000)
            .filter(|_| control.plan("GET", "/x", None).status == Some(500))
            .count();
        assert!((400..600).contains(&failed), "{failed}");
    }

    #[test]
    fn a_late_answer_is_a_fault_of_its_own_and_matches_like_the_others() {
        let control = Control::new(Settings::default(), 1);
        control
            .set_faults(Faults::answer_delay(Duration::from_millis(1500)).on("POST", "cli-build"));
        let plan = control.plan("POST", "/api/cli-build/", None);
        assert_eq!(plan.answer_delay, Duration::from_millis(1500));
        assert_eq!((plan.latency, plan.status), (Duration::ZERO, None));
        assert_eq!(
            control.plan("GET", "/api/cli-build/1/", None),
            Plan::default()
        );
    }
}
