//! The DeepSeek and SleakOps simulators, in process for one test.

use super::services::Vars;
use std::time::Duration;

/// Both simulators; an app reaches them once a builder is given them.
#[derive(Debug)]
pub struct Sims {
    pub deepseek: faro_sim::Running,
    pub sleakops: faro_sim::Running,
}

/// A worker quick enough for tests: short polls, leases and retries, attempts enough for an
/// outage to pass.
const TEST_PACE: [(&str, &str); 10] = [
    ("FARO_SLEAKOPS_TIMEOUT_MS", "3000"),
    ("FARO_SLEAKOPS_BREAKER_COOL_DOWN_MS", "300"),
    ("FARO_DEEPSEEK_TIMEOUT_MS", "5000"),
    ("FARO_WORKER_POLL_MS", "50"),
    ("FARO_WORKER_LEASE_MS", "1500"),
    ("FARO_WORKER_RETRY_BASE_MS", "100"),
    ("FARO_WORKER_RETRY_MAX_MS", "400"),
    ("FARO_WORKER_STATUS_POLL_MS", "30"),
    ("FARO_WORKER_STATUS_POLL_MAX_MS", "100"),
    ("FARO_WORKER_MAX_ATTEMPTS", "100"),
];

/// The SleakOps projects and environments the tests' default key reaches: project `shop`
/// (what `faro_fixtures::fixtures::project_body` names) with the environments the fixtures
/// and tests deploy to (`{name}-env` for fixture environments).
pub fn catalogue() -> faro_sim::Projects {
    faro_sim::Projects::new().with(
        "shop",
        [
            "staging-env",
            "production-env",
            "qa",
            "qa-env",
            "qa-fail-deploy",
            "stg",
            "stg-2",
            "prod",
            "prod-2",
            "dev",
            "other",
        ],
    )
}

impl Sims {
    /// Both simulators with their defaults; SleakOps builds and deployments spend `step` in
    /// each state. SleakOps' default key ([`faro_sim::sleakops::DEFAULT_KEY`], the one the
    /// fixtures give organizations) reaches the [`catalogue`] and nothing else.
    pub async fn start(step: Duration) -> Self {
        Self::start_with(
            faro_sim::deepseek::Options::default(),
            faro_sim::sleakops::Options {
                step,
                projects: Some(catalogue()),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn start_with(
        deepseek: faro_sim::deepseek::Options,
        sleakops: faro_sim::sleakops::Options,
    ) -> Self {
        Self {
            deepseek: faro_sim::deepseek::start(deepseek)
                .await
                .expect("DeepSeek simulator starts"),
            sleakops: faro_sim::sleakops::start(sleakops)
                .await
                .expect("SleakOps simulator starts"),
        }
    }

    /// Points an app at these simulators, with their keys.
    pub fn wire(&self, vars: &mut Vars) {
        for (key, value) in [
            ("FARO_DEEPSEEK_BASE_URL", self.deepseek.base_url.as_str()),
            ("FARO_DEEPSEEK_API_KEY", faro_sim::deepseek::DEFAULT_KEY),
            ("FARO_SLEAKOPS_BASE_URL", self.sleakops.base_url.as_str()),
        ] {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }

    /// [`wire`](Self::wire)s an app to these simulators, with a worker paced for tests.
    pub fn configure(&self, vars: &mut Vars) {
        self.wire(vars);
        for (key, value) in TEST_PACE {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
}
