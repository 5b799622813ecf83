//! A client of DeepSeek's chat completions: `POST {base}/chat/completions` with
//! `Authorization: Bearer <key>` and an OpenAI-compatible body (`model`, `messages`,
//! `stream`, `temperature`, `max_tokens`).
//!
//! [`Client::chat`] returns a whole [`Completion`]; [`Client::chat_stream`] returns a
//! [`ChatStream`] of [`Chunk`]s parsed incrementally from server-sent events (`data:` lines,
//! keep-alive comments skipped, ending at `data: [DONE]`); a stream asks for its usage
//! (`stream_options.include_usage`), which its last chunk carries. Both retry 429, 500, 503 and
//! connection failures with full-jitter backoff (honouring `Retry-After`) and go through a
//! circuit breaker; a stream is only retried until its response head arrived. The API key
//! appears nowhere but in the `Authorization` header: not in `Debug`, errors or logs.

mod error;
mod stream;
mod types;

pub use error::DeepSeekError;
pub use faro_resilience::{
    Backoff, BreakerConfig, BreakerState, Phase, RetryPolicy, Secret, Timeouts,
};
pub use stream::ChatStream;
pub use types::{CHAT_MODEL, ChatRequest, Chunk, Completion, Message, REASONER_MODEL, Role, Usage};

use faro_resilience::{CircuitBreaker, http, retry};
use std::{fmt, sync::Arc, time::Duration};
use tokio::time::Instant;
use types::{WireCompletion, WireRequest};

/// DeepSeek's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.deepseek.com";

#[derive(Debug, Clone)]
pub struct Config {
    /// Without the `/chat/completions` path, such as `https://api.deepseek.com`.
    pub base_url: String,
    pub api_key: Secret,
    /// The model of requests that name none: [`CHAT_MODEL`] or [`REASONER_MODEL`].
    pub model: String,
    /// For non-streaming calls; a stream's head must arrive within `first_byte`, and then
    /// each chunk within `first_byte` of the previous one.
    pub timeouts: Timeouts,
    /// The longest a whole stream may take.
    pub stream_timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
}

impl Config {
    pub fn new(base_url: impl Into<String>, api_key: impl Into<Secret>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            model: CHAT_MODEL.to_owned(),
            timeouts: Timeouts {
                connect: Duration::from_secs(3),
                first_byte: Duration::from_secs(30),
                total: Duration::from_secs(90),
            },
            stream_timeout: Duration::from_secs(180),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// A DeepSeek client; cheap to clone (clones share connections and the circuit breaker).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base_url: String,
    endpoint: String,
    api_key: Secret,
    model: String,
    timeouts: Timeouts,
    stream_timeout: Duration,
    retry: RetryPolicy,
    pub(crate) breaker: CircuitBreaker,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("deepseek::Client")
            .field("base_url", &self.inner.base_url)
            .field("api_key", &self.inner.api_key)
            .field("model", &self.inner.model)
            .field("circuit", &self.inner.breaker.state())
            .finish()
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Self, DeepSeekError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(DeepSeekError::Config {
                detail: format!("the base URL {base_url:?} is not an http(s) URL"),
            });
        }
        let http = http::client(
            &config.timeouts,
            concat!("faro-deepseek/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint: format!("{base_url}/chat/completions"),
                base_url,
                api_key: config.api_key,
                model: config.model,
                timeouts: config.timeouts,
                stream_timeout: config.stream_timeout,
                retry: config.retry,
                breaker: CircuitBreaker::new(config.breaker),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The model used when a request names none.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// The circuit breaker's state, for status pages.
    pub fn circuit(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> Result<Vec<u8>, DeepSeekError> {
        serde_json::to_vec(&WireRequest {
            model: request.model.as_deref().unwrap_or(&self.inner.model),
            messages: &request.messages,
            stream,
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            stream_options: stream.then_some(types::StreamOptions {
                include_usage: true,
            }),
        })
        .map_err(|e| DeepSeekError::Config {
            detail: e.to_string(),
        })
    }

    fn post(&self, body: &[u8], stream: bool) -> reqwest::RequestBuilder {
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        self.inner
            .http
            .post(&self.inner.endpoint)
            .bearer_auth(self.inner.api_key.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, accept)
            .body(body.to_vec())
    }

    /// One whole answer.
    pub async fn chat(&self, request: &ChatRequest) -> Result<Completion, DeepSeekError> {
        let body = self.body(request, false)?;
        let inner = &self.inner;
        retry::run(&inner.retry, &inner.breaker, "deepseek", |_| async {
            let deadline = http::deadline(&inner.timeouts);
            let response = http::send(self.post(&body, false), &inner.timeouts, deadline).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = http::read_body(response, &inner.timeouts, deadline).await?;
            if !(200..300).contains(&status) {
                return Err(DeepSeekError::from_response(status, &headers, &bytes));
            }
            parse_completion(&bytes)
        })
        .await
    }

    /// An answer streamed as it is written. Errors before the response head (including
    /// every error status) are returned here, after retries; errors during the stream
    /// come from the stream.
    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, DeepSeekError> {
        let body = self.body(request, true)?;
        let inner = &self.inner;
        let (response, deadline) =
            retry::run(&inner.retry, &inner.breaker, "deepseek", |_| async {
                let deadline = Instant::now() + inner.stream_timeout;
                let response =
                    http::send(self.post(&body, true), &inner.timeouts, deadline).await?;
                let status = response.status().as_u16();
                if !(200..300).contains(&status) {
                    let headers = response.headers().clone();
                    let body_deadline = http::deadline(&inner.timeouts).min(deadline);
                    let bytes = http::read_body(response, &inner.timeouts, body_deadline)
                        .await
                        .unwrap_or_default();
                    return Err(DeepSeekError::from_response(status, &headers, &bytes));
                }
                Ok((response, deadline))
            })
            .await?;
        Ok(ChatStream::new(
            response,
            deadline,
            inner.timeouts.first_byte,
            self.inner.clone(),
        ))
    }
}

fn parse_completion(bytes: &[u8]) -> Result<Completion, DeepSeekError> {
    let wire: WireCompletion =
        serde_json::from_slice(bytes).map_err(|e| DeepSeekError::MalformedBody {
            detail: format!("{e} in {:?}", http::excerpt(bytes, 120)),
        })?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| DeepSeekError::MalformedBody {
            detail: "the answer has no choices".into(),
        })?;
    Ok(Completion {
        id: wire.id,
        model: wire.model,
        content: choice.message.content.unwrap_or_default(),
        reasoning: choice.message.reasoning_content,
        finish_reason: choice.finish_reason,
        usage: wire.usage.unwrap_or_default(),
    })
}
