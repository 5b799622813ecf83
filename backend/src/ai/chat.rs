//! `POST /api/releases/{id}/chat`: a conversation about a release, streamed token by token;
//! `GET /api/releases/{id}/chat/{conversation_id}`: the conversation so far.
//!
//! Conversations live in DynamoDB: `pk = CONVERSATION#<id>`, `sk = META` (the release and
//! the user it belongs to) and `sk = MSG#<seq, 6 digits>` (each message: `role`, `content`,
//! `at`), kept 90 days. A conversation is only reachable by its user, through its release;
//! any other combination is 404. The user's message and the answer are written together,
//! once the answer is complete, with conditional puts: two concurrent turns of one
//! conversation cannot both land on the same sequence numbers (the loser gets an `error`
//! event and may send again).
//!
//! The stream: `event: conversation` (a [`ChatStarted`]), then `event: token` (a
//! [`ChatToken`]) per piece of the answer, then `event: done` (a [`ChatDone`]) once it is
//! stored — or `event: error` (a problem document) if DeepSeek broke off. Failures before the
//! first byte (DeepSeek down, limits) are ordinary problem answers with `Retry-After`.

use super::{admit, deepseek_error, prompts, release_for};
use crate::{
    AppState,
    auth::CurrentUser,
    dynamo::{PK, SK, TTL_ATTRIBUTE},
    error::ApiError,
    http::ApiJson,
    releases::timeline,
};
use aws_sdk_dynamodb::{
    error::DisplayErrorContext,
    types::{AttributeValue, Put, TransactWriteItem},
};
use axum::{
    extract::{Path, State},
    response::sse::{Event, KeepAlive, Sse},
};
use faro_deepseek::{ChatStream, Message, Role as ChatRole, Usage};
use faro_types::{
    AiUsage, ChatDone, ChatMessage, ChatRequest, ChatStarted, ChatToken, Conversation, Problem,
    ProblemType, Role,
};
use futures_util::{Stream, StreamExt};
use std::{
    collections::HashMap,
    convert::Infallible,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::sync::OwnedSemaphorePermit;

/// Earlier messages sent along with a new one.
const HISTORY: usize = 20;
const KEEP: Duration = Duration::from_secs(90 * 24 * 3600);

fn pk(conversation: &str) -> String {
    format!("CONVERSATION#{conversation}")
}

fn msg_sk(seq: u64) -> String {
    format!("MSG#{seq:06}")
}

fn expires_at() -> AttributeValue {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    AttributeValue::N((now + KEEP).as_secs().to_string())
}

/// Ask about a release; the answer streams back as server-sent events.
#[utoipa::path(
    post, path = "/api/releases/{id}/chat", tag = "ai",
    params(("id" = u64, Path, description = "The release's id")),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "`text/event-stream`: `event: conversation` with a ChatStarted, `event: token` with a ChatToken per piece of the answer, then `event: done` with a ChatDone once the exchange is stored, or `event: error` with a problem document if DeepSeek broke off", body = ChatToken, content_type = "text/event-stream"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release or conversation (conversations belong to one release and one user)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The message is empty or too long, or the conversation id is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many AI requests from this user; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DeepSeek is unavailable, not configured or busy; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn chat(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<u64>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    request.validate()?;
    let (_, release) = release_for(&state, &user, id, Role::Viewer).await?;
    let (conversation, history, next_seq) = match &request.conversation_id {
        Some(conversation) => {
            let (history, next) = load(&state, conversation, id, user.id).await?;
            (conversation.clone(), history, next)
        }
        None => (uuid::Uuid::new_v4().to_string(), Vec::new(), 1),
    };
    let (deepseek, slot) = admit(&state, &user).await?;
    let mut events =
        timeline::newest(&state.dynamo, &state.table, id, prompts::TIMELINE_EVENTS).await?;
    events.reverse();
    let messages = prompts::chat(&release, &events, history, &request.message);
    let upstream = deepseek
        .chat_stream(
            &faro_deepseek::ChatRequest::new(messages)
                .temperature(0.5)
                .max_tokens(state.config.ai.max_tokens),
        )
        .await
        .map_err(|e| deepseek_error(&state, e))?;
    let turn = Turn {
        state,
        conversation,
        new: request.conversation_id.is_none(),
        release_id: id,
        user_id: user.id,
        seq: next_seq,
        question: request.message,
        answer: String::new(),
        usage: None,
        upstream,
        phase: Phase::Start,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(turn, |mut turn| async move {
        let event = turn.next().await?;
        Some((Ok(event), turn))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A stored message with its sequence number.
struct Stored {
    seq: u64,
    role: faro_types::ChatRole,
    content: String,
    at: chrono::DateTime<chrono::Utc>,
}

/// 404 unless the conversation belongs to `release_id` and `user_id`.
async fn check_owner(
    state: &AppState,
    conversation: &str,
    release_id: u64,
    user_id: u64,
) -> Result<(), ApiError> {
    let meta = state
        .dynamo
        .get_item()
        .table_name(&*state.table)
        .key(PK, AttributeValue::S(pk(conversation)))
        .key(SK, AttributeValue::S("META".into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| ApiError::dynamo(DisplayErrorContext(e)))?
        .item
        .unwrap_or_default();
    let number = |name: &str| {
        meta.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    if number("release_id") != Some(release_id) || number("user_id") != Some(user_id) {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// The newest `limit` messages of a conversation, oldest first.
async fn newest_messages(
    state: &AppState,
    conversation: &str,
    limit: usize,
) -> Result<Vec<Stored>, ApiError> {
    let mut messages = Vec::new();
    let mut start = None;
    loop {
        let output = state
            .dynamo
            .query()
            .table_name(&*state.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :msg)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk(conversation)))
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit - messages.len()).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start.take())
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::dynamo(DisplayErrorContext(e)))?;
        messages.extend(output.items().iter().filter_map(stored));
        match output.last_evaluated_key {
            Some(key) if messages.len() < limit => start = Some(key),
            _ => break,
        }
    }
    messages.reverse();
    Ok(messages)
}

fn stored(item: &HashMap<String, AttributeValue>) -> Option<Stored> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    Some(Stored {
        seq: text(SK)?.strip_prefix("MSG#")?.parse().ok()?,
        role: match text("role")?.as_str() {
            "assistant" => faro_types::ChatRole::Assistant,
            _ => faro_types::ChatRole::User,
        },
        content: text("content")?.clone(),
        at: chrono::DateTime::parse_from_rfc3339(text("at")?)
            .ok()?
            .with_timezone(&chrono::Utc),
    })
}

/// The conversation's recent messages (oldest first) and the next sequence number, if it
/// belongs to `release_id` and `user_id`.
async fn load(
    state: &AppState,
    conversation: &str,
    release_id: u64,
    user_id: u64,
) -> Result<(Vec<Message>, u64), ApiError> {
    check_owner(state, conversation, release_id, user_id).await?;
    let stored = newest_messages(state, conversation, HISTORY).await?;
    let next = stored.last().map_or(1, |m| m.seq + 1);
    let history = stored
        .into_iter()
        .map(|m| match m.role {
            faro_types::ChatRole::Assistant => Message::assistant(m.content),
            faro_types::ChatRole::User => Message::user(m.content),
        })
        .collect();
    Ok((history, next))
}

/// The messages a conversation shows at most (the newest).
const SHOWN: usize = 500;

/// A conversation so far, to show it again (after a reload, on another device).
#[utoipa::path(
    get, path = "/api/releases/{id}/chat/{conversation_id}", tag = "ai",
    params(
        ("id" = u64, Path, description = "The release's id"),
        ("conversation_id" = String, Path, description = "The id the chat stream's `conversation` event gave"),
    ),
    responses(
        (status = 200, description = "The newest 500 messages at most, oldest first", body = Conversation),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release or conversation (conversations belong to one release and one user)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed conversation id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn conversation(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, conversation_id)): Path<(u64, String)>,
) -> Result<axum::Json<Conversation>, ApiError> {
    if let Some(message) = faro_types::conversation_id_problem(&conversation_id) {
        return Err(ApiError::field("conversation_id", &message));
    }
    release_for(&state, &user, id, Role::Viewer).await?;
    check_owner(&state, &conversation_id, id, user.id).await?;
    let messages = newest_messages(&state, &conversation_id, SHOWN)
        .await?
        .into_iter()
        .map(|m| ChatMessage {
            role: m.role,
            content: m.content,
            at: m.at,
        })
        .collect();
    Ok(axum::Json(Conversation {
        conversation_id,
        release_id: id,
        messages,
    }))
}

enum Phase {
    Start,
    Streaming,
    Finished,
}

/// One exchange: the stream's state.
struct Turn {
    state: AppState,
    conversation: String,
    new: bool,
    release_id: u64,
    user_id: u64,
    seq: u64,
    question: String,
    answer: String,
    usage: Option<Usage>,
    upstream: ChatStream,
    phase: Phase,
    /// Held until the stream ends: the call counts against the task's AI slots.
    _slot: OwnedSemaphorePermit,
}

fn json_event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

fn error_event(detail: &str) -> Event {
    let problem = Problem::new(ProblemType::ServiceUnavailable, 503, "Service unavailable")
        .with_detail(detail);
    json_event("error", &problem)
}

impl Turn {
    async fn next(&mut self) -> Option<Event> {
        match self.phase {
            Phase::Start => {
                self.phase = Phase::Streaming;
                Some(json_event(
                    "conversation",
                    &ChatStarted {
                        conversation_id: self.conversation.clone(),
                    },
                ))
            }
            Phase::Streaming => loop {
                match self.upstream.next().await {
                    Some(Ok(chunk)) => {
                        self.usage = chunk.usage.or(self.usage);
                        if chunk.content.is_empty() {
                            continue;
                        }
                        self.answer.push_str(&chunk.content);
                        return Some(json_event(
                            "token",
                            &ChatToken {
                                text: chunk.content,
                            },
                        ));
                    }
                    Some(Err(err)) => {
                        self.phase = Phase::Finished;
                        self.state.metrics.external_error();
                        tracing::warn!(error = %err, release_id = self.release_id, "DeepSeek broke off a chat answer");
                        return Some(error_event(
                            "DeepSeek's answer broke off; nothing was stored. Send the message again.",
                        ));
                    }
                    None => {
                        self.phase = Phase::Finished;
                        return Some(match self.store().await {
                            Ok(()) => {
                                let usage = self.usage.unwrap_or_default();
                                json_event(
                                    "done",
                                    &ChatDone {
                                        conversation_id: self.conversation.clone(),
                                        usage: AiUsage {
                                            prompt_tokens: usage.prompt_tokens,
                                            completion_tokens: usage.completion_tokens,
                                        },
                                    },
                                )
                            }
                            Err(detail) => {
                                tracing::warn!(error = %detail, release_id = self.release_id, "chat exchange not stored");
                                error_event(
                                    "The answer could not be stored (another message of this conversation may have been sent at the same time). Send the message again.",
                                )
                            }
                        });
                    }
                }
            },
            Phase::Finished => None,
        }
    }

    fn put(&self, sk: String, mut item: HashMap<String, AttributeValue>) -> TransactWriteItem {
        item.insert(PK.into(), AttributeValue::S(pk(&self.conversation)));
        item.insert(SK.into(), AttributeValue::S(sk));
        item.insert(TTL_ATTRIBUTE.into(), expires_at());
        let put = Put::builder()
            .table_name(&*self.state.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SK)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn message(&self, role: ChatRole, content: &str) -> HashMap<String, AttributeValue> {
        let role = match role {
            ChatRole::Assistant => "assistant",
            _ => "user",
        };
        HashMap::from([
            ("role".into(), AttributeValue::S(role.into())),
            ("content".into(), AttributeValue::S(content.to_owned())),
            (
                "at".into(),
                AttributeValue::S(crate::db::now().to_rfc3339()),
            ),
        ])
    }

    /// Writes the question and the answer (and, for a new conversation, its owner) at once.
    /// (Owned values only across the await: the upstream stream is not `Sync`.)
    fn store(&self) -> impl Future<Output = Result<(), String>> + Send + use<> {
        let mut writes = Vec::new();
        if self.new {
            writes.push(self.put(
                "META".into(),
                HashMap::from([
                    (
                        "release_id".into(),
                        AttributeValue::N(self.release_id.to_string()),
                    ),
                    (
                        "user_id".into(),
                        AttributeValue::N(self.user_id.to_string()),
                    ),
                ]),
            ));
        }
        writes.push(self.put(
            msg_sk(self.seq),
            self.message(ChatRole::User, &self.question),
        ));
        writes.push(self.put(
            msg_sk(self.seq + 1),
            self.message(ChatRole::Assistant, &self.answer),
        ));
        let request = self
            .state
            .dynamo
            .transact_write_items()
            .set_transact_items(Some(writes));
        async move {
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|e| DisplayErrorContext(e).to_string())
        }
    }
}
