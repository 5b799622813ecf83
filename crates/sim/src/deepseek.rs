//! A DeepSeek simulator: `POST /chat/completions` (and `/v1/chat/completions`) with
//! `Authorization: Bearer <key>`, answering deterministically from the prompt — see
//! [`answer`] — whole or streamed token by token as server-sent events, with usage counts and
//! DeepSeek's error bodies (`{"error": {"message", "type", "param", "code"}}`).
//!
//! Validation follows the real API: an unknown model or a body that is not a chat request
//! is 400, a temperature outside 0–2 or `max_tokens` outside 1–8192 is 422, a wrong key 401.
//!
//! A streamed answer reports its usage as DeepSeek does when asked with
//! `stream_options: {"include_usage": true}`: one more chunk before `data: [DONE]`, with
//! `choices: []` and the usage of the whole exchange, every other chunk saying
//! `"usage": null`; not asked, no chunk carries usage. While the control is held
//! ([`Control::hold`]), a stream stops before its last chunk, so a test can act while an
//! answer is certainly still being written.

use crate::{
    control::{Control, Settings},
    server::{self, Running, Truncate},
};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, Response, header},
    routing::post,
};
use serde::Deserialize;
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The counter key of chat completion requests.
pub const CHAT: &str = "POST /chat/completions";
pub const DEFAULT_KEY: &str = "sim-deepseek-key";
const MODELS: [&str; 2] = ["deepseek-chat", "deepseek-reasoner"];

#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    /// The only key accepted.
    pub api_key: String,
    /// The pause between two streamed tokens (changeable later through the control).
    pub token_delay: Duration,
    /// Seeds the failure-rate dice, so runs repeat.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_KEY.to_owned(),
            token_delay: Duration::ZERO,
            seed: 42,
        }
    }
}

#[derive(Debug)]
struct Sim {
    api_key: String,
    control: Control,
}

/// Starts the simulator; its base URL is `http://127.0.0.1:<port>`.
pub async fn start(options: Options) -> std::io::Result<Running> {
    let control = Control::new(
        Settings {
            token_delay_ms: options.token_delay.as_millis() as u64,
            ..Settings::default()
        },
        options.seed,
    );
    let sim = Arc::new(Sim {
        api_key: options.api_key,
        control: control.clone(),
    });
    let routes = Router::new()
        .route("/chat/completions", post(chat))
        .route("/v1/chat/completions", post(chat))
        .fallback(|| async {
            error(
                404,
                "Not Found",
                "invalid_request_error",
                "invalid_request_error",
            )
        })
        .with_state(sim);
    server::start(
        options.addr,
        "",
        routes,
        Router::new(),
        control,
        error_for_status,
    )
    .await
}

/// One message as the simulator reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct SimMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Deserialize)]
struct ChatBody {
    model: String,
    messages: Vec<SimMessage>,
    #[serde(default)]
    stream: bool,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    #[serde(default)]
    stream_options: StreamOptions,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// How often a held stream looks whether it may end.
const HELD_POLL: Duration = Duration::from_millis(10);

/// Items the simulator lists when asked for a list (see [`answer`]).
const MAX_ITEMS: usize = 3;

/// The simulator's answer to `messages`: a fixed transformation of the last user message
/// plus a summary of the conversation, so tests can predict it.
///
/// Like a model following its instructions, it obeys one format request: a system message
/// that asks for a line such as `` `Suggested fixes:` `` (a backticked heading ending in a
/// colon) gets that heading, followed by `- Look into: <line>` for each of the first three
/// lines of the last user message that mention an error or a failure.
pub fn answer(model: &str, messages: &[SimMessage]) -> String {
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| m.content.as_str());
    let characters: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    let mut text = format!(
        "Simulated {model} answer ({} messages, {characters} characters). You said: {last}",
        messages.len()
    );
    let heading = messages
        .iter()
        .filter(|m| m.role == "system")
        .find_map(|m| requested_heading(&m.content));
    if let Some(heading) = heading {
        text.push_str("\n\n");
        text.push_str(heading);
        for line in last
            .lines()
            .map(str::trim)
            .filter(|line| {
                let lower = line.to_lowercase();
                lower.contains("error") || lower.contains("fail")
            })
            .take(MAX_ITEMS)
        {
            text.push_str("\n- Look into: ");
            text.push_str(line);
        }
    }
    text
}

/// The first backticked text in `instructions` that ends in a colon, such as `Fixes:`.
fn requested_heading(instructions: &str) -> Option<&str> {
    instructions
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|quoted| quoted.len() > 1 && quoted.ends_with(':'))
}

/// The answer split into the tokens it is streamed as: each word with the whitespace before
/// it, so the tokens concatenate to the answer.
pub fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Prompt tokens as the simulator counts them: words, plus one per message.
pub fn prompt_tokens(messages: &[SimMessage]) -> u32 {
    messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u32 + 1)
        .sum()
}

fn error(status: u16, message: &str, kind: &str, code: &str) -> Response<Body> {
    server::json(
        status,
        &serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

/// DeepSeek's answer for an error status (fault injection uses these too).
fn error_for_status(status: u16) -> Response<Body> {
    match status {
        400 => error(
            400,
            "Invalid request: the request body is malformed",
            "invalid_request_error",
            "invalid_request_error",
        ),
        401 => error(
            401,
            "Authentication Fails, Your api key is invalid",
            "authentication_error",
            "invalid_request_error",
        ),
        402 => error(
            402,
            "Insufficient Balance",
            "unknown_error",
            "invalid_request_error",
        ),
        422 => error(
            422,
            "Invalid Parameters",
            "invalid_request_error",
            "invalid_request_error",
        ),
        429 => server::with_retry_after(
            error(
                429,
                "Rate Limit Reached",
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
            1,
        ),
        500 => error(500, "Server Error", "server_error", "server_error"),
        503 => error(
            503,
            "Server Overloaded",
            "server_error",
            "server_overloaded",
        ),
        502 | 504 => server::html(status, "Bad Gateway"),
        other => error(other, "Error", "unknown_error", "unknown_error"),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn chat(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    truncate: Option<axum::Extension<Truncate>>,
    body: Bytes,
) -> Response<Body> {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == sim.api_key);
    if !authorized {
        return error_for_status(401);
    }
    let request: ChatBody = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                400,
                &format!("Failed to deserialize the JSON body into the target type: {e}"),
                "invalid_request_error",
                "invalid_request_error",
            );
        }
    };
    if !MODELS.contains(&request.model.as_str()) {
        return error(
            400,
            "Model Not Exist",
            "invalid_request_error",
            "invalid_request_error",
        );
    }
    if request.messages.is_empty() {
        return error(
            400,
            "Invalid request: messages must not be empty",
            "invalid_request_error",
            "invalid_request_error",
        );
    }
    if request
        .temperature
        .is_some_and(|t| !(0.0..=2.0).contains(&t))
    {
        return error(
            422,
            "Invalid temperature: it must be between 0 and 2",
            "invalid_request_error",
            "invalid_request_error",
        );
    }
    if request.max_tokens.is_some_and(|m| !(1..=8192).contains(&m)) {
        return error(
            422,
            "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",
            "invalid_request_error",
            "invalid_request_error",
        );
    }
    let text = answer(&request.model, &request.messages);
    let mut tokens = tokens(&text);
    if let Some(max) = request.max_tokens {
        tokens.truncate(max as usize);
    }
    let prompt = prompt_tokens(&request.messages);
    let usage = serde_json::json!({
        "prompt_tokens": prompt,
        "completion_tokens": tokens.len(),
        "total_tokens": prompt as usize + tokens.len(),
    });
    let finish = if request
        .max_tokens
        .is_some_and(|m| (m as usize) < self::tokens(&text).len())
    {
        "length"
    } else {
        "stop"
    };
    let id = format!("sim-{}", fastrand::u64(..));
    let reasoning = (request.model == "deepseek-reasoner")
        .then(|| format!("The user sent {} messages.", request.messages.len()));
    if !request.stream {
        return server::json(
            200,
            &serde_json::json!({
                "id": id,
                "object": "chat.completion",
                "created": now_secs(),
                "model": request.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": tokens.concat(), "reasoning_content": reasoning},
                    "logprobs": null,
                    "finish_reason": finish,
                }],
                "usage": usage,
            }),
        );
    }
    let delay = Duration::from_millis(sim.control.settings().token_delay_ms);
    let usage = request.stream_options.include_usage.then_some(usage);
    stream(
        Answer {
            id,
            model: request.model,
            reasoning,
            tokens,
            usage,
            finish,
        },
        delay,
        truncate.is_some(),
        sim.control.clone(),
    )
}

/// A streamed answer's parts.
struct Answer {
    id: String,
    model: String,
    reasoning: Option<String>,
    tokens: Vec<String>,
    /// Reported in a chunk of its own at the end, when asked for.
    usage: Option<serde_json::Value>,
    finish: &'static str,
}

fn stream(answer: Answer, delay: Duration, truncate: bool, control: Control) -> Response<Body> {
    let Answer {
        id,
        model,
        reasoning,
        tokens,
        usage,
        finish,
    } = answer;
    let created = now_secs();
    let data = |choices: serde_json::Value, usage: Option<&serde_json::Value>| {
        let chunk = serde_json::json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        });
        format!("data: {chunk}\n\n")
    };
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        data(
            serde_json::json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
            None,
        )
    };
    // Paced parts: a keep-alive comment, the role, reasoning, then one token each.
    let mut parts = vec![
        ": keep-alive\n\n".to_owned(),
        chunk(
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        ),
    ];
    if let Some(reasoning) = reasoning {
        for token in self::tokens(&reasoning) {
            parts.push(chunk(
                serde_json::json!({"content": null, "reasoning_content": token}),
                None,
            ));
        }
    }
    let token_parts: Vec<String> = tokens
        .iter()
        .map(|t| chunk(serde_json::json!({"content": t}), None))
        .collect();
    if truncate {
        parts.extend(token_parts.iter().take(token_parts.len() / 2).cloned());
    } else {
        parts.extend(token_parts);
        parts.push(chunk(serde_json::json!({"content": ""}), Some(finish)));
        if let Some(usage) = &usage {
            parts.push(data(serde_json::json!([]), Some(usage)));
        }
        parts.push("data: [DONE]\n\n".to_owned());
    }
    let last = parts.len() - 1;
    let body = futures_util::stream::unfold(
        (parts.into_iter().enumerate(), control),
        move |(mut parts, control)| async move {
            let (at, part) = parts.next()?;
            if at > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            while at == last && control.is_held() {
                tokio::time::sleep(HELD_POLL).await;
            }
            Some((Ok::<_, std::convert::Infallible>(part), (parts, control)))
        },
    );
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_concatenate_to_the_text() {
        let text = "Hello,  wide\nworld! ";
        let t = tokens(text);
        assert_eq!(t, ["Hello,", "  wide", "\nworld!", " "]);
        assert_eq!(t.concat(), text);
    }

    #[test]
    fn answers_are_deterministic() {
        let messages = vec![
            SimMessage {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            SimMessage {
                role: "user".into(),
                content: "What broke?".into(),
            },
        ];
        assert_eq!(
            answer("deepseek-chat", &messages),
            "Simulated deepseek-chat answer (2 messages, 20 characters). You said: What broke?"
        );
        assert_eq!(prompt_tokens(&messages), 6);
    }

    #[test]
    fn a_requested_list_heading_gets_the_failing_lines() {
        let messages = vec![
            SimMessage {
                role: "system".into(),
                content: "Explain. Then write a line `Fixes:` and one fix per line, `- ` first."
                    .into(),
            },
            SimMessage {
                role: "user".into(),
                content: "Release 4\nBuild failed: exit 101\nok\nerror: linker".into(),
            },
        ];
        let text = answer("deepseek-chat", &messages);
        let (said, list) = text.split_once("\n\nFixes:\n").expect("the heading");
        assert!(said.ends_with("error: linker"), "{said}");
        assert_eq!(
            list,
            "- Look into: Build failed: exit 101\n- Look into: error: linker"
        );
        assert_eq!(requested_heading("a `- ` b `Sum:` c"), Some("Sum:"));
        assert_eq!(requested_heading("no `heading` here"), None);
    }
}
