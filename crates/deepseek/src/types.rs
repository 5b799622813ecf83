//! The chat completions API's messages, requests and answers.

use serde::{Deserialize, Serialize};

/// DeepSeek-V3's chat model.
pub const CHAT_MODEL: &str = "deepseek-chat";
/// DeepSeek-R1's reasoning model: it streams `reasoning_content` before the answer.
pub const REASONER_MODEL: &str = "deepseek-reasoner";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One chat completion to ask for. `model: None` uses the client's configured model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<Message>,
    /// 0–2; DeepSeek's default is 1.
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }
}

/// The body on the wire.
#[derive(Debug, Serialize)]
pub(crate) struct WireRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [Message],
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Streams only: asks for the usage of the whole exchange in a last chunk of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StreamOptions {
    pub include_usage: bool,
}

/// Tokens billed for one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub id: String,
    pub model: String,
    pub content: String,
    /// The reasoning model's chain of thought, when it sent one.
    pub reasoning: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Usage,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chunk {
    /// Text to append to the answer (often a single token; may be empty).
    pub content: String,
    /// Text to append to the reasoning (reasoning model only).
    pub reasoning: String,
    /// Set on the last chunk of the answer (`stop`, `length`…).
    pub finish_reason: Option<String>,
    /// Set on the last chunk (one with no text, after the one with `finish_reason`): the
    /// tokens the whole exchange used.
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireCompletion {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<WireChoice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireChoice {
    pub message: WireMessage,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireMessage {
    pub content: Option<String>,
    pub reasoning_content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireChunk {
    #[serde(default)]
    pub choices: Vec<WireDeltaChoice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireDeltaChoice {
    #[serde(default)]
    pub delta: WireDelta,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireDelta {
    pub content: Option<String>,
    pub reasoning_content: Option<String>,
}

impl From<WireChunk> for Chunk {
    fn from(wire: WireChunk) -> Self {
        let mut chunk = Chunk {
            usage: wire.usage,
            ..Chunk::default()
        };
        if let Some(choice) = wire.choices.into_iter().next() {
            chunk.content = choice.delta.content.unwrap_or_default();
            chunk.reasoning = choice.delta.reasoning_content.unwrap_or_default();
            chunk.finish_reason = choice.finish_reason;
        }
        chunk
    }
}

/// `{"error": {"message", "type", "code"}}`, as DeepSeek (and OpenAI) send errors.
#[derive(Debug, Deserialize)]
pub(crate) struct WireError {
    pub error: WireErrorBody,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireErrorBody {
    pub message: Option<String>,
}
