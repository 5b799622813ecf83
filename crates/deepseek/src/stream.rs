use crate::{
    DeepSeekError, Inner,
    types::{Chunk, Usage, WireChunk},
};
use bytes::Bytes;
use faro_resilience::{Phase, http};
use faro_sse::SseParser;
use futures_util::{Stream, StreamExt, stream::BoxStream};
use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;

/// A streamed answer: [`Chunk`]s until `data: [DONE]`, then the end. A stream that stops
/// without `[DONE]`, stalls longer than the idle timeout, or sends an unreadable chunk
/// yields one error and ends.
pub struct ChatStream {
    inner: BoxStream<'static, Result<Chunk, DeepSeekError>>,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChatStream")
    }
}

struct State {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    pending: VecDeque<String>,
    deadline: Instant,
    idle: Duration,
    eof: bool,
    done: bool,
    client: Arc<Inner>,
}

impl State {
    fn fail(&mut self, err: DeepSeekError) -> Option<Result<Chunk, DeepSeekError>> {
        self.done = true;
        self.client.breaker.record_failure();
        Some(Err(err))
    }

    async fn next(&mut self) -> Option<Result<Chunk, DeepSeekError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(data) = self.pending.pop_front() {
                if data.trim() == "[DONE]" {
                    self.done = true;
                    return None;
                }
                return match serde_json::from_str::<WireChunk>(&data) {
                    Ok(chunk) => Some(Ok(chunk.into())),
                    Err(e) => self.fail(DeepSeekError::MalformedBody {
                        detail: format!(
                            "{e} in the chunk {:?}",
                            http::excerpt(data.as_bytes(), 120)
                        ),
                    }),
                };
            }
            if self.eof {
                return self.fail(DeepSeekError::StreamInterrupted {
                    detail: "the stream ended without `data: [DONE]`".into(),
                });
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            let (limit, phase) = if self.idle <= left {
                (self.idle, Phase::Idle)
            } else {
                (left, Phase::Total)
            };
            match tokio::time::timeout(limit, self.body.next()).await {
                Err(_) => {
                    return self.fail(DeepSeekError::Timeout {
                        phase,
                        after: limit,
                    });
                }
                Ok(None) => {
                    self.eof = true;
                    self.pending.extend(self.parser.finish().map(|e| e.data));
                }
                Ok(Some(Err(err))) => {
                    return self.fail(DeepSeekError::StreamInterrupted {
                        detail: http::describe(&err),
                    });
                }
                Ok(Some(Ok(bytes))) => self
                    .pending
                    .extend(self.parser.feed(&bytes).into_iter().map(|e| e.data)),
            }
        }
    }
}

impl ChatStream {
    pub(crate) fn new(
        response: reqwest::Response,
        deadline: Instant,
        idle: Duration,
        client: Arc<Inner>,
    ) -> Self {
        let state = State {
            body: response.bytes_stream().boxed(),
            parser: SseParser::new(),
            pending: VecDeque::new(),
            deadline,
            idle,
            eof: false,
            done: false,
            client,
        };
        let inner = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
        .boxed();
        Self { inner }
    }

    /// Reads the whole stream: the answer's text and the usage its last chunk reported.
    pub async fn collect_text(mut self) -> Result<(String, Option<Usage>), DeepSeekError> {
        let mut text = String::new();
        let mut usage = None;
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            text.push_str(&chunk.content);
            usage = chunk.usage.or(usage);
        }
        Ok((text, usage))
    }
}

impl Stream for ChatStream {
    type Item = Result<Chunk, DeepSeekError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}
