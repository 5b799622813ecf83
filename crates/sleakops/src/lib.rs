//! A client of SleakOps' CLI API (base `https://api.sleakops.com/api/`, header
//! `Authorization: Api-Key <key>`):
//!
//! | call | request |
//! |---|---|
//! | [`Client::create_build`] | `POST cli-build/` |
//! | [`Client::build`] | `GET cli-build/{id}/` |
//! | [`Client::create_deployment`] | `POST cli-deployment/` |
//! | [`Client::deployment`] | `GET cli-deployment/{id}/` |
//! | [`Client::verify`], [`Client::projects`] | `GET project-env/` |
//!
//! Reads are retried on 429, 5xx and connection failures with full-jitter backoff
//! (honouring `Retry-After`). Triggers are not idempotent, so they are only retried when
//! SleakOps certainly did not act on them: the connection could not be made, or it answered
//! 429 or 503. Once the request may have been received, a timeout, a broken connection, a
//! 5xx or an unreadable answer is [`SleakOpsError::OutcomeUnknown`], for the caller to
//! reconcile. All calls of a client go through its circuit breaker; a refused key (401, 403)
//! is the caller's problem, not SleakOps', so it never trips the breaker. The API key appears
//! nowhere but in the `Authorization` header.
//!
//! Each organization has its own key, so [`Clients`] keeps one client (and breaker) per key.
//!
//! `project-env/` is what the SleakOps CLI (`sleakops/config.py`: `PROJECT_ENV_ENDPOINT`)
//! reads to list the project environments a user reaches; it reads the answer as a plain
//! JSON array of `{"id", "name", "project_name", "environment": {"name"}}`. This client
//! accepts that array and also Django REST framework pages (`{"count", "next",
//! "previous", "results"}`), following `next` for at most [`MAX_PAGES`] pages.

mod error;
mod listing;
mod pool;
mod types;

pub use error::SleakOpsError;
pub use faro_resilience::{
    Backoff, BreakerConfig, BreakerState, Phase, RetryPolicy, Secret, Timeouts,
};
pub use listing::{MAX_PAGES, ProjectListing};
pub use pool::{CAPACITY, Clients, RECENT};
pub use types::{
    Build, BuildRequest, Deployment, DeploymentRequest, ProjectEnv, ResourceId, State, messages,
};

use faro_resilience::{CircuitBreaker, http, retry};
use serde::{Serialize, de::DeserializeOwned};
use std::{
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use types::WireJob;

/// SleakOps' public API.
pub const DEFAULT_BASE_URL: &str = "https://api.sleakops.com/api/";

/// How to reach SleakOps, whatever the key: what [`Clients`] is made from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Up to and including `/api/`, such as [`DEFAULT_BASE_URL`].
    pub base_url: String,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// Each key's client has its own breaker with this configuration.
    pub breaker: BreakerConfig,
}

impl Settings {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeouts: Timeouts {
                connect: Duration::from_secs(3),
                first_byte: Duration::from_secs(15),
                total: Duration::from_secs(20),
            },
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }

    /// The configuration of one client, with `api_key`.
    pub fn with_key(self, api_key: impl Into<Secret>) -> Config {
        Config {
            base_url: self.base_url,
            api_key: api_key.into(),
            timeouts: self.timeouts,
            retry: self.retry,
            breaker: self.breaker,
        }
    }
}

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
        Settings::new(base_url).with_key(api_key)
    }

    /// These settings without the key.
    pub fn settings(&self) -> Settings {
        Settings {
            base_url: self.base_url.clone(),
            timeouts: self.timeouts,
            retry: self.retry,
            breaker: self.breaker,
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
    /// When a call last started, for [`Clients::circuit`].
    last_call: Mutex<Option<Instant>>,
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
const PROJECT_ENVS: &str = "project-env/";

/// `base_url` trimmed and ending in `/`, if it is an http(s) URL.
fn normalize_base_url(base_url: &str) -> Result<String, SleakOpsError> {
    let mut base_url = base_url.trim().to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(SleakOpsError::Config {
            detail: format!("the base URL {base_url:?} is not an http(s) URL"),
        });
    }
    if !base_url.ends_with('/') {
        base_url.push('/');
    }
    Ok(base_url)
}

/// The connections of one or many clients.
fn http_client(timeouts: &Timeouts) -> Result<reqwest::Client, SleakOpsError> {
    http::client(
        timeouts,
        concat!("faro-sleakops/", env!("CARGO_PKG_VERSION")),
    )
    .map_err(|e| SleakOpsError::from_transport(e, None))
}

impl Client {
    pub fn new(config: Config) -> Result<Self, SleakOpsError> {
        let base_url = normalize_base_url(&config.base_url)?;
        let http = http_client(&config.timeouts)?;
        Ok(Self::with_http(http, Config { base_url, ..config }))
    }

    /// A client on shared connections; `config.base_url` is already normalized.
    fn with_http(http: reqwest::Client, config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                base_url: config.base_url,
                api_key: config.api_key,
                timeouts: config.timeouts,
                retry: config.retry,
                breaker: CircuitBreaker::new(config.breaker),
                last_call: Mutex::new(None),
            }),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The circuit breaker's state, for status pages.
    pub fn circuit(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// When this client last started a call.
    fn last_call(&self) -> Option<Instant> {
        *self
            .inner
            .last_call
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn note_call(&self) {
        *self
            .inner
            .last_call
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Checks the key with one authenticated read (`GET project-env/`, its first page).
    /// A key SleakOps refuses is [`SleakOpsError::Unauthorized`] (401) or
    /// [`SleakOpsError::Forbidden`] (403): see [`SleakOpsError::is_key_rejected`].
    pub async fn verify(&self) -> Result<(), SleakOpsError> {
        self.read::<listing::Listing>(&self.url(PROJECT_ENVS), listing::WHAT)
            .await
            .map(|_| ())
    }

    /// The projects the key reaches, each with its environments, by name.
    pub async fn projects(&self) -> Result<Vec<ProjectListing>, SleakOpsError> {
        listing::collect(self).await
    }

    /// Starts a build. Never sent twice once SleakOps may have received it.
    pub async fn create_build(&self, request: &BuildRequest) -> Result<Build, SleakOpsError> {
        self.trigger(BUILD, request, "started the build").await
    }

    pub async fn build(&self, id: &ResourceId) -> Result<Build, SleakOpsError> {
        self.read::<WireJob>(&self.url(&format!("{BUILD}{id}/")), &format!("build {id}"))
            .await
            .map(Build::from)
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
        self.read::<WireJob>(
            &self.url(&format!("{DEPLOYMENT}{id}/")),
            &format!("deployment {id}"),
        )
        .await
        .map(Deployment::from)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Api-Key {}", self.inner.api_key.expose()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Reads `url` (under the base URL), which holds `what`.
    async fn read<T: DeserializeOwned>(&self, url: &str, what: &str) -> Result<T, SleakOpsError> {
        let inner = &self.inner;
        self.note_call();
        retry::run(&inner.retry, &inner.breaker, "sleakops", |_| async {
            let deadline = http::deadline(&inner.timeouts);
            let response = http::send(
                self.request(reqwest::Method::GET, url),
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
            serde_json::from_slice::<T>(&body).map_err(|e| SleakOpsError::Malformed {
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
        let url = self.url(path);
        self.note_call();
        retry::run(&inner.retry, &inner.breaker, "sleakops", |_| async {
            let deadline = http::deadline(&inner.timeouts);
            let request = self
                .request(reqwest::Method::POST, &url)
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
