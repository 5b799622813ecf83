//! The external services — DeepSeek and SleakOps — as configured: their clients, whether
//! each is real or simulated, and `GET /api/status`, which the frontend's banner reads.

use crate::{
    AppState,
    config::{Config, ServiceConfig},
};
use axum::{Json, extract::State};
use faro_resilience::{Backoff, BreakerConfig, BreakerState, RetryPolicy, Secret, Timeouts};
use faro_types::{
    CircuitState, ExternalService, Notice, NoticeLevel, OpsStatus, ServiceMode, WorkerStatus,
};
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The real services' hosts; any other base URL is a simulator.
pub const DEEPSEEK_HOST: &str = "api.deepseek.com";
pub const SLEAKOPS_HOST: &str = "api.sleakops.com";

/// The clients, present when their API key is configured.
#[derive(Debug, Clone)]
pub struct External {
    pub deepseek: Option<faro_deepseek::Client>,
    pub sleakops: Option<faro_sleakops::Client>,
    pub deepseek_mode: ServiceMode,
    pub sleakops_mode: ServiceMode,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the {service} client: {detail}")]
pub struct ClientError {
    pub service: &'static str,
    pub detail: String,
}

fn mode(service: &ServiceConfig, real_host: &str) -> ServiceMode {
    if service.api_key.is_none() {
        ServiceMode::NotConfigured
    } else if service.is_simulated(real_host) {
        ServiceMode::Simulated
    } else {
        ServiceMode::Real
    }
}

/// How a client copes with a slow or failing service, from the service's settings.
#[derive(Debug)]
struct Resilience {
    timeouts: Timeouts,
    retry: RetryPolicy,
    breaker: BreakerConfig,
}

impl Resilience {
    fn of(service: &ServiceConfig) -> Self {
        Self {
            timeouts: Timeouts {
                connect: Duration::from_secs(3).min(service.timeout),
                first_byte: Duration::from_secs(30).min(service.timeout),
                total: service.timeout,
            },
            // Idempotent calls: three retries, waiting up to 250 ms, 500 ms, 1 s (or
            // `Retry-After`).
            retry: RetryPolicy::new(
                3,
                Backoff::new(Duration::from_millis(250), Duration::from_secs(4)),
            ),
            breaker: BreakerConfig {
                failure_threshold: service.breaker_failures,
                cool_down: service.breaker_cool_down,
            },
        }
    }
}

/// The client `build` makes for `service` when its API key is configured.
fn client<C, E: std::fmt::Display>(
    name: &'static str,
    service: &ServiceConfig,
    build: impl FnOnce(&str, Secret, Resilience) -> Result<C, E>,
) -> Result<Option<C>, ClientError> {
    let Some(key) = &service.api_key else {
        return Ok(None);
    };
    build(&service.base_url, key.clone(), Resilience::of(service))
        .map(Some)
        .map_err(|e| ClientError {
            service: name,
            detail: e.to_string(),
        })
}

impl External {
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        let service = &config.deepseek.service;
        let deepseek = client("DeepSeek", service, |base_url, key, resilience| {
            let mut client = faro_deepseek::Config::new(base_url, key);
            client.model = config.deepseek.model.clone();
            client.timeouts = resilience.timeouts;
            client.stream_timeout = service.timeout * 3;
            client.retry = resilience.retry;
            client.breaker = resilience.breaker;
            faro_deepseek::Client::new(client)
        })?;
        let sleakops = client("SleakOps", &config.sleakops, |base_url, key, resilience| {
            let mut client = faro_sleakops::Config::new(base_url, key);
            client.timeouts = resilience.timeouts;
            client.retry = resilience.retry;
            client.breaker = resilience.breaker;
            faro_sleakops::Client::new(client)
        })?;
        Ok(Self {
            deepseek,
            sleakops,
            deepseek_mode: mode(&config.deepseek.service, DEEPSEEK_HOST),
            sleakops_mode: mode(&config.sleakops, SLEAKOPS_HOST),
        })
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

fn service(name: &str, mode: ServiceMode, circuit: Option<BreakerState>) -> ExternalService {
    let circuit = circuit.unwrap_or(BreakerState::Closed);
    ExternalService {
        name: name.to_owned(),
        mode,
        circuit: match circuit {
            BreakerState::Closed => CircuitState::Closed,
            BreakerState::Open { .. } => CircuitState::Open,
            BreakerState::HalfOpen => CircuitState::HalfOpen,
        },
        retry_in_secs: match circuit {
            BreakerState::Open { retry_in } => Some(retry_in.as_secs().max(1)),
            _ => None,
        },
    }
}

/// What the app runs against and how it is doing: for the operations banner.
#[utoipa::path(get, path = "/api/status", tag = "operations",
    responses((status = 200, description = "Whether DeepSeek and SleakOps are real, simulated or not configured, whether their circuit is open (on the task that answered), the release worker's state, and the banner's notices", body = OpsStatus)))]
async fn status(State(state): State<AppState>) -> Json<OpsStatus> {
    let external = &state.external;
    let deepseek = service(
        "deepseek",
        external.deepseek_mode,
        external.deepseek.as_ref().map(|c| c.circuit()),
    );
    let sleakops = service(
        "sleakops",
        external.sleakops_mode,
        external.sleakops.as_ref().map(|c| c.circuit()),
    );
    let worker = WorkerStatus {
        enabled: state.worker.enabled(),
        running: state.worker.is_running(),
    };
    let mut notices = Vec::new();
    let mut warn = |message: String| {
        notices.push(Notice {
            level: NoticeLevel::Warning,
            message,
        })
    };
    if sleakops.mode == ServiceMode::NotConfigured {
        warn("SleakOps is not configured (FARO_SLEAKOPS_API_KEY): releases stay queued.".into());
    } else if !worker.enabled {
        warn("The release worker is off on this task: releases wait for another task.".into());
    }
    if sleakops.circuit == CircuitState::Open {
        warn("SleakOps is not answering: releases wait and continue once it is back.".into());
    }
    if deepseek.mode == ServiceMode::NotConfigured {
        warn("DeepSeek is not configured (FARO_DEEPSEEK_API_KEY): AI features are off.".into());
    } else if deepseek.circuit == CircuitState::Open {
        warn(
            "DeepSeek is not answering: AI features are paused; releases are not affected.".into(),
        );
    }
    let simulated: Vec<&str> = [&deepseek, &sleakops]
        .into_iter()
        .filter(|s| s.mode == ServiceMode::Simulated)
        .map(|s| {
            if s.name == "deepseek" {
                "DeepSeek"
            } else {
                "SleakOps"
            }
        })
        .collect();
    if !simulated.is_empty() {
        notices.push(Notice {
            level: NoticeLevel::Info,
            message: format!(
                "Running against simulated {}: builds, deployments and AI answers are not real.",
                simulated.join(" and ")
            ),
        });
    }
    Json(OpsStatus {
        simulated: !simulated.is_empty(),
        services: vec![deepseek, sleakops],
        worker,
        notices,
    })
}
