//! The AI features (DeepSeek): release notes, explanations of failed releases, and chats
//! about a release.

use crate::{FieldError, validate};
use serde::{Deserialize, Serialize};

/// The longest changelog a notes draft takes, in characters.
pub const MAX_CHANGELOG: usize = 20_000;
/// The longest release notes, in characters.
pub const MAX_NOTES: usize = 20_000;
/// The longest chat message, in characters.
pub const MAX_CHAT_MESSAGE: usize = 4_000;

/// A notes draft's changelog.
pub const CHANGELOG: validate::Rule = validate::text(MAX_CHANGELOG);
/// A chat message.
pub const CHAT_MESSAGE: validate::Rule = validate::text(MAX_CHAT_MESSAGE);
/// Release notes as edited (anything, up to the limit).
pub const NOTES: validate::Rule = validate::Rule {
    min_length: 0,
    max_length: MAX_NOTES,
    pattern: None,
};
/// A conversation id this API issues.
pub const CONVERSATION_ID: validate::Rule = validate::Rule {
    min_length: 1,
    max_length: 64,
    pattern: Some("^[A-Za-z0-9-]+$"),
};

/// `POST /api/releases/{id}/notes`: the commit messages or changelog to draft notes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DraftNotes {
    pub changelog: String,
}

impl DraftNotes {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "changelog",
                validate::free_text(&self.changelog, &CHANGELOG),
            )
            .finish()
    }
}

/// A release's notes, as drafted (and stored on the release).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseNotes {
    pub notes: String,
}

/// `PATCH /api/releases/{id}`: edit the release's notes (`null` clears them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRelease {
    pub notes: Option<String>,
}

impl UpdateRelease {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let message = self.notes.as_deref().and_then(|notes| {
            (notes.chars().count() > NOTES.max_length)
                .then(|| format!("must be at most {} characters", NOTES.max_length))
        });
        validate::Errors::new().check("notes", message).finish()
    }
}

/// `POST /api/releases/{id}/explain`: why a failed release failed, and what to try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    pub explanation: String,
    pub suggested_fixes: Vec<String>,
}

/// `POST /api/releases/{id}/chat`: one message of a conversation about the release. Without
/// `conversation_id` a new conversation starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// Why `id` cannot be a conversation id this API issued, if it cannot.
pub fn conversation_id_problem(id: &str) -> Option<String> {
    let ok = (CONVERSATION_ID.min_length..=CONVERSATION_ID.max_length).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (!ok).then(|| "is not a conversation id this API issued".to_owned())
}

impl ChatRequest {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let id = self
            .conversation_id
            .as_deref()
            .and_then(conversation_id_problem);
        validate::Errors::new()
            .check("message", validate::free_text(&self.message, &CHAT_MESSAGE))
            .check("conversation_id", id)
            .finish()
    }
}

/// The chat stream's first event (`event: conversation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatStarted {
    pub conversation_id: String,
}

/// A piece of the answer (`event: token`), to append to what came before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatToken {
    pub text: String,
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    User,
    Assistant,
}

/// One stored message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// `GET /api/releases/{id}/chat/{conversation_id}`: a conversation so far, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub conversation_id: String,
    pub release_id: u64,
    pub messages: Vec<ChatMessage>,
}

/// Tokens an AI answer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// `GET /api/orgs/{slug}/ai-usage`: the organization's DeepSeek tokens today (UTC) against
/// its daily budget. Calls are refused (429) once a call's reservation no longer fits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiBudget {
    /// The UTC day counted, such as `2026-12-07`.
    pub day: chrono::NaiveDate,
    /// Tokens spent today, with those reserved by calls still running.
    pub used_tokens: u64,
    pub limit_tokens: u64,
    /// When the count starts again (the next UTC midnight).
    pub resets_at: chrono::DateTime<chrono::Utc>,
}

impl AiBudget {
    pub fn remaining(&self) -> u64 {
        self.limit_tokens.saturating_sub(self.used_tokens)
    }
}

/// The chat stream's last event (`event: done`): the answer is complete and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatDone {
    pub conversation_id: String,
    pub usage: AiUsage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        assert!(
            DraftNotes {
                changelog: "fix: things".into()
            }
            .validate()
            .is_ok()
        );
        let blank = DraftNotes {
            changelog: "  ".into(),
        }
        .validate()
        .expect_err("blank");
        assert_eq!(blank[0].field, "changelog");
        let chat = ChatRequest {
            message: "hi".into(),
            conversation_id: Some("../etc".into()),
        };
        assert_eq!(
            chat.validate().expect_err("bad id")[0].field,
            "conversation_id"
        );
        assert!(
            UpdateRelease { notes: None }.validate().is_ok(),
            "null clears the notes"
        );
        let long = UpdateRelease {
            notes: Some("x".repeat(MAX_NOTES + 1)),
        };
        assert_eq!(long.validate().expect_err("long")[0].field, "notes");
    }
}
