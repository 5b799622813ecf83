//! A chat about a release: messages, and the state machine of a streamed answer.
//!
//! `POST /api/releases/{id}/chat` answers with server-sent events: `conversation` (the id to
//! send with the next message), `token` per piece of the answer, then `done`; or `error` (a
//! problem document) when DeepSeek broke off. A stream that closes before `done` or `error`
//! broke off too; the partial answer stays visible, marked as incomplete.

use faro_sse::SseEvent;
use faro_types::{ChatDone, ChatStarted, ChatToken, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub speaker: Speaker,
    pub text: String,
    /// For answers: still streaming.
    pub streaming: bool,
    /// For answers: why it broke off, if it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chat {
    pub messages: Vec<Message>,
    /// Sent with every message after the first.
    pub conversation_id: Option<String>,
}

impl Chat {
    /// Whether an answer is streaming now (the input waits for it).
    pub fn busy(&self) -> bool {
        self.messages.last().is_some_and(|m| m.streaming)
    }

    /// The user sent `text`: it shows at once, with an empty answer that will stream in.
    pub fn ask(&mut self, text: &str) {
        self.messages.push(Message {
            speaker: Speaker::User,
            text: text.to_owned(),
            streaming: false,
            error: None,
        });
        self.messages.push(Message {
            speaker: Speaker::Assistant,
            text: String::new(),
            streaming: true,
            error: None,
        });
    }

    fn answer(&mut self) -> Option<&mut Message> {
        self.messages
            .last_mut()
            .filter(|m| m.speaker == Speaker::Assistant && m.streaming)
    }

    /// Applies one event of the answer's stream.
    pub fn apply(&mut self, event: &SseEvent) {
        match event.event.as_str() {
            "conversation" => {
                if let Ok(started) = serde_json::from_str::<ChatStarted>(&event.data) {
                    self.conversation_id = Some(started.conversation_id);
                }
            }
            "token" => {
                if let Ok(token) = serde_json::from_str::<ChatToken>(&event.data)
                    && let Some(answer) = self.answer()
                {
                    answer.text.push_str(&token.text);
                }
            }
            "done" => {
                if let Ok(done) = serde_json::from_str::<ChatDone>(&event.data) {
                    self.conversation_id = Some(done.conversation_id);
                }
                if let Some(answer) = self.answer() {
                    answer.streaming = false;
                }
            }
            "error" => {
                let why = serde_json::from_str::<Problem>(&event.data)
                    .map(|p| p.detail.unwrap_or(p.title))
                    .unwrap_or_else(|_| "the answer broke off".into());
                self.fail(&why);
            }
            _ => {}
        }
    }

    /// The answer stopped without `done`: a refused request, a network error, or a stream
    /// that closed early.
    pub fn fail(&mut self, why: &str) {
        if let Some(answer) = self.answer() {
            answer.streaming = false;
            answer.error = Some(why.to_owned());
        }
    }

    /// The stream closed; an answer still marked streaming broke off.
    pub fn closed(&mut self) {
        self.fail("the connection closed before the answer was complete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn an_answer_streams_token_by_token() {
        let mut chat = Chat::default();
        chat.ask("Why did it fail?");
        assert!(chat.busy());
        chat.apply(&sse("conversation", r#"{"conversation_id":"c-1"}"#));
        chat.apply(&sse("token", r#"{"text":"The build "}"#));
        assert_eq!(chat.messages[1].text, "The build ");
        chat.apply(&sse("token", r#"{"text":"failed."}"#));
        chat.apply(&sse(
            "done",
            r#"{"conversation_id":"c-1","usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        ));
        assert!(!chat.busy());
        assert_eq!(chat.messages[1].text, "The build failed.");
        assert_eq!(chat.messages[1].error, None);
        assert_eq!(chat.conversation_id.as_deref(), Some("c-1"));
        // closing after done is normal
        chat.closed();
        assert_eq!(chat.messages[1].error, None);
    }

    #[test]
    fn broken_answers_keep_their_text_and_say_why() {
        let mut chat = Chat::default();
        chat.ask("hi");
        chat.apply(&sse("token", r#"{"text":"Hel"}"#));
        chat.apply(&sse(
            "error",
            r#"{"type":"/problems/service-unavailable","title":"DeepSeek is unavailable","status":503,"detail":"DeepSeek broke off"}"#,
        ));
        assert!(!chat.busy());
        assert_eq!(chat.messages[1].text, "Hel");
        assert_eq!(
            chat.messages[1].error.as_deref(),
            Some("DeepSeek broke off")
        );

        chat.ask("again");
        chat.apply(&sse("token", r#"{"text":"Part"}"#));
        chat.closed();
        assert!(
            chat.messages[3]
                .error
                .as_deref()
                .unwrap()
                .contains("closed")
        );
        assert_eq!(chat.messages.len(), 4);
    }

    #[test]
    fn tokens_after_the_end_are_ignored() {
        let mut chat = Chat::default();
        chat.ask("q");
        chat.fail("Too many AI requests");
        chat.apply(&sse("token", r#"{"text":"late"}"#));
        assert_eq!(chat.messages[1].text, "");
    }
}
