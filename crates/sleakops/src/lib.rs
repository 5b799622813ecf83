//! A client of SleakOps' CLI API (base `https://api.sleakops.com/api/`, header
//! `Authorization: Api-Key <key>`):
//!
//! | call | request |
//! |---|---|
//! | [`Client::create_build`] | `POST cli-build/` |
//! | [`Client::build`] | `GET cli-build/{id}/` |
//! | [`Client::create_deployment`] | `POST cli-deployment/` |
//! | [`Client::deployment`] | `GET cli-deployment/{id}/` |
//!
//! Reads are retried on 429, 5xx and connection failures with full-jitter backoff
//! (honouring `Retry-After`). Triggers are not idempotent, so they are only retried when
//! SleakOps certainly did not act on them: the connection could not be made, or it answered
//! 429 or 503. Once the request may have been received, a timeout, a broken connection, a
//! 5xx or an unreadable answer is [`SleakOpsError::OutcomeUnknown`], for the caller to
//! reconcile. All calls go through one circuit breaker. The API key appears nowhere but in
//! the `Authorization` header.

mod error;
mod types;

pub use error::SleakOpsError;
pub use faro_resilience::{
    Backoff, BreakerConfig, BreakerState, Phase, RetryPolicy, Secret, Timeouts,
};
pub use types::{
    Build, BuildRequest, Deployment, DeploymentRequest, ProjectEnv, ResourceId, State, messages,
};

use faro_resilience::{CircuitBreaker, http, retry};
use serde::Serialize;
use std::{fmt, sync::Arc, time::Duration};
use types::WireJob;

/// SleakOps' public API.
pub const DEFAULT_BASE_URL: &str = "https://api.sleakops.com/api/";

#[derive(Debug, Clone)]
pub struct Config {
    /// Up to and including `/api/`, such as [`DEFAULT_BASE_URL`].
    pub base_url: String,
    pub api_key: Secret,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
}

impl Config {
    pub fn new(base_url: impl Into<String>, api_key: impl Into<Secret>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            timeouts: Timeouts {
                connect: Duration::from_secs(3),
                first_byte: Duration::from_secs(15),
                total: Duration::from_secs(20),
            },
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// A SleakOps client; cheap to clone (clones share connections and the circuit breaker).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    api_key: Secret,
    timeouts: Timeouts,
    retry: RetryPolicy,
    breaker: CircuitBreaker,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("sleakops::Client")
            .field("base_url", &self.inner.base_url)
            .field("api_key", &self.inner.api_key)
            .field("circuit", &self.inner.breaker.state())
            .finish()
    }
}

const BUILD: &str = "cli-build/";
const DEPLOYMENT: &str = "cli-deployment/";

impl Client {
    pub fn new(config: Config) -> Result<Self, SleakOpsError> {
        let mut base_url = config.base_url.trim().to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(SleakOpsError::Config {
                detail: format!("the base URL {base_url:?} is not an http(s) URL"),
            });
        }
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        let http = http::client(
            &config.timeouts,
            concat!("faro-sleakops/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| SleakOpsError::from_transport(e, None))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                api_key: config.api_key,
                timeouts: config.timeouts,
                retry: config.retry,
                breaker: CircuitBreaker::new(config.breaker),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The circuit breaker's state, for status pages.
    pub fn circuit(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// Starts a build. Never sent twice once SleakOps may have received it.
    pub async fn create_build(&self, request: &BuildRequest) -> Result<Build, SleakOpsError> {
        self.trigger(BUILD, request, "started the build").await
    }

    pub async fn build(&self, id: &ResourceId) -> Result<Build, SleakOpsError> {
        self.get(&format!("{BUILD}{id}/"), &format!("build {id}"))
            .await
    }

    /// Starts a deployment. Never sent twice once SleakOps may have received it.
    pub async fn create_deployment(
        &self,
        request: &DeploymentRequest,
    ) -> Result<Deployment, SleakOpsError> {
        self.trigger(DEPLOYMENT, request, "started the deployment")
            .await
    }

    pub async fn deployment(&self, id: &ResourceId) -> Result<Deployment, SleakOpsError> {
        self.get(&format!("{DEPLOYMENT}{id}/"), &format!("deployment {id}"))
            .await
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, format!("{}{path}", self.inner.base_url))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Api-Key {}", self.inner.api_key.expose()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Reads a build or deployment.
    async fn get<T: From<WireJob>>(&self, path: &str, what: &str) -> Result<T, SleakOpsError> {
        let inner = &self.inner;
        retry::run(&inner.retry, &inner.breaker, "sleakops", |_| async {
            let deadline = http::deadline(&inner.timeouts);
            let response = http::send(
                self.request(reqwest::Method::GET, path),
                &inner.timeouts,
                deadline,
            )
            .await
            .map_err(|e| SleakOpsError::from_transport(e, None))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = http::read_body(response, &inner.timeouts, deadline)
                .await
                .map_err(|e| SleakOpsError::from_transport(e, None))?;
            if !(200..300).contains(&status) {
                return Err(SleakOpsError::from_response(
                    status, &headers, &body, what, None,
                ));
            }
            serde_json::from_slice::<WireJob>(&body)
                .map(T::from)
                .map_err(|e| SleakOpsError::Malformed {
                    detail: format!("{e} in {:?}", http::excerpt(&body, 120)),
                })
        })
        .await
    }

    /// Starts a build or deployment.
    async fn trigger<T: From<WireJob>>(
        &self,
        path: &str,
        body: &impl Serialize,
        operation: &'static str,
    ) -> Result<T, SleakOpsError> {
        let body = serde_json::to_vec(body).map_err(|e| SleakOpsError::Config {
            detail: e.to_string(),
        })?;
        let inner = &self.inner;
        retry::run(&inner.retry, &inner.breaker, "sleakops", |_| async {
            let deadline = http::deadline(&inner.timeouts);
            let request = self
                .request(reqwest::Method::POST, path)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            let response = http::send(request, &inner.timeouts, deadline)
                .await
                .map_err(|e| SleakOpsError::from_transport(e, Some(operation)))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let answer = http::read_body(response, &inner.timeouts, deadline)
                .await
                .map_err(|e| SleakOpsError::from_transport(e, Some(operation)))?;
            if !(200..300).contains(&status) {
                return Err(SleakOpsError::from_response(
                    status,
                    &headers,
                    &answer,
                    path.trim_end_matches('/'),
                    Some(operation),
                ));
            }
            // It was acted on, but without its id the result cannot be followed.
            serde_json::from_slice::<WireJob>(&answer)
                .map(T::from)
                .map_err(|e| SleakOpsError::OutcomeUnknown {
                    operation,
                    detail: format!(
                        "its answer cannot be read ({e} in {:?})",
                        http::excerpt(&answer, 120)
                    ),
                })
        })
        .await
    }
}
