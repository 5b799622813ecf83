//! What a test (or a person, through `/_sim/…`) can change while a simulator runs: faults,
//! pacing, holding SleakOps' work short of its end, and the request counters.

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

    fn is_active(&self) -> bool {
        self.times != Some(0)
            && (self.latency_ms > 0
                || self.status.is_some()
                || self.failure_rate > 0.0
                || self.drop_connections
                || self.truncate)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| path.contains(p))
    }
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub latency: Duration,
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_delay_ms: 0,
            step_ms: 1000,
        }
    }
}

/// The request counters: `"<METHOD> <path>"` with numeric path segments as `{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    pub requests: BTreeMap<String, u64>,
}

struct Shared {
    faults: Mutex<Faults>,
    settings: Mutex<Settings>,
    held: Mutex<bool>,
    stats: Mutex<Stats>,
    rng: Mutex<fastrand::Rng>,
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
    /// until [`Control::resume`]. A test holds one so that it can act while the work is
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

    /// Clears the faults, a hold and the counters.
    pub fn reset(&self) {
        self.clear_faults();
        self.resume();
        *lock(&self.shared.stats) = Stats::default();
    }

    pub(crate) fn count(&self, method: &str, path: &str) {
        let mut stats = lock(&self.shared.stats);
        stats.total += 1;
        *stats.requests.entry(route_key(method, path)).or_default() += 1;
    }

    /// Decides the faults of one request, using up one of `times`.
    pub(crate) fn plan(&self, method: &str, path: &str) -> Plan {
        let mut faults = lock(&self.shared.faults);
        if !faults.is_active() || !faults.matches(method, path) {
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
        assert_eq!(control.plan("GET", "/api/cli-build/1/"), Plan::default());
        assert_eq!(control.plan("POST", "/api/cli-build/").status, Some(503));
        assert_eq!(control.plan("POST", "/api/cli-build/").status, Some(503));
        assert_eq!(control.plan("POST", "/api/cli-build/"), Plan::default());
        assert_eq!(control.faults(), Faults::none());
    }

    #[test]
    fn a_failure_rate_fails_about_that_share() {
        let control = Control::new(Settings::default(), 7);
        control.set_faults(Faults {
            failure_rate: 0.5,
            ..Faults::default()
        });
        let failed = (0..1000)
            .filter(|_| control.plan("GET", "/x").status == Some(500))
            .count();
        assert!((400..600).contains(&failed), "{failed}");
    }
}
