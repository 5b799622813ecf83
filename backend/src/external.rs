//! The external services — DeepSeek and SleakOps — as configured: their clients, whether
//! each is real or simulated, and `GET /api/status`, which the frontend's banner reads.

use crate::{
    AppState,
    config::{Config, ServiceConfig},
};
use axum::{Json, extract::State};
use faro_resilience::{Backoff, BreakerConfig, BreakerState, RetryPolicy, Timeouts};
use faro_types::{
    CircuitState, ExternalService, Notice, NoticeLevel, OpsStatus, ServiceMode, WorkerStatus,
};
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The real services' hosts; any other base URL is a simulator.
pub const DEEPSEEK_HOST: &str = "api.deepseek.com";
pub const SLEAKOPS_HOST: &str = "api.sleakops.com";

/// The clients. DeepSeek's is present when the operator's key is configured; SleakOps is
/// called with each organization's own key, through one pool of clients (one circuit
/// breaker per key).
#[derive(Debug, Clone)]
pub struct External {
    pub deepseek: Option<faro_deepseek::Client>,
    pub sleakops: faro_sleakops::Clients,
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
    if service.is_simulated(real_host) {
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

impl External {
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        let service = &config.deepseek.service;
        let deepseek = match &config.deepseek.api_key {
            None => None,
            Some(key) => {
                let resilience = Resilience::of(service);
                let mut client = faro_deepseek::Config::new(&service.base_url, key.clone());
                client.model = config.deepseek.model.clone();
                client.timeouts = resilience.timeouts;
                client.stream_timeout = service.timeout * 3;
                client.retry = resilience.retry;
                client.breaker = resilience.breaker;
                let client = faro_deepseek::Client::new(client).map_err(|e| ClientError {
                    service: "DeepSeek",
                    detail: e.to_string(),
                })?;
                Some(client)
            }
        };
        let resilience = Resilience::of(&config.sleakops);
        let mut settings = faro_sleakops::Settings::new(&config.sleakops.base_url);
        settings.timeouts = resilience.timeouts;
        settings.retry = resilience.retry;
        settings.breaker = resilience.breaker;
        let sleakops = faro_sleakops::Clients::new(settings).map_err(|e| ClientError {
            service: "SleakOps",
            detail: e.to_string(),
        })?;
        let deepseek_mode = match deepseek {
            Some(_) => mode(service, DEEPSEEK_HOST),
            None => ServiceMode::NotConfigured,
        };
        Ok(Self {
            deepseek,
            sleakops,
            deepseek_mode,
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
        Some(external.sleakops.circuit()),
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
    if !worker.enabled {
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
