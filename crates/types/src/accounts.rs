use crate::{FieldError, validate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `POST /api/auth/signup`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    /// The name of the organization the account creates; without an invitation, one derived
    /// from `name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// An invitation token: the account joins that organization instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<String>,
}

impl SignupRequest {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("email", validate::email(&self.email))
            .check("password", validate::password(&self.password))
            .check("name", validate::display_name(&self.name))
            .check(
                "organization",
                self.organization
                    .as_deref()
                    .and_then(validate::display_name),
            )
            .check(
                "invitation",
                self.invitation
                    .as_deref()
                    .and_then(crate::invitation_token_problem),
            )
            .finish()
    }
}

/// `POST /api/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl LoginRequest {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        // Only shape checks: a sign-in must not reveal the password rules' history.
        validate::Errors::new()
            .check("email", validate::email(&self.email))
            .check("password", validate::login_password(&self.password))
            .finish()
    }
}

/// `POST /api/me/password`: the password now, to prove it is the account's owner asking, and
/// the new one (the rules of sign-up's).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

impl ChangePassword {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check(
                "current_password",
                self.current_password
                    .is_empty()
                    .then(|| "must not be empty".to_owned()),
            )
            // The same password again is allowed: a schema cannot say "differs from another
            // field", and changing to it still ends the account's other sessions.
            .check("new_password", validate::password(&self.new_password))
            .finish()
    }
}

/// `Debug` for a type holding a credential, whose value it replaces with `[redacted]`:
/// passwords and tokens never reach logs, not even through `{:?}`.
macro_rules! debug_redacting {
    ($name:ident { $($field:ident: $how:ident),* $(,)? }) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), debug_redacting!(@$how self.$field)))*
                    .finish()
            }
        }
    };
    (@shown $value:expr) => {
        &$value
    };
    (@redacted $value:expr) => {
        &"[redacted]"
    };
}

debug_redacting!(SignupRequest {
    email: shown,
    password: redacted,
    name: shown,
    organization: shown,
    invitation: redacted,
});
debug_redacting!(LoginRequest {
    email: shown,
    password: redacted
});
debug_redacting!(ChangePassword {
    current_password: redacted,
    new_password: redacted
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Answer to sign-up and sign-in: the session token (also set as a cookie) and who it is for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub token: String,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

debug_redacting!(Session {
    token: redacted,
    user: shown,
    expires_at: shown
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords_and_tokens() {
        let req = SignupRequest {
            email: "a@b.co".into(),
            password: "hunter2hunter2".into(),
            name: "A".into(),
            organization: None,
            invitation: Some("t0k3n".into()),
        };
        assert_eq!(
            format!("{req:?}"),
            r#"SignupRequest { email: "a@b.co", password: "[redacted]", name: "A", organization: None, invitation: "[redacted]" }"#
        );
        let login = LoginRequest {
            email: "a@b.co".into(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
        let session = Session {
            token: "t0k3n".into(),
            user: User {
                id: 1,
                email: "a@b.co".into(),
                name: "A".into(),
                created_at: DateTime::UNIX_EPOCH,
            },
            expires_at: DateTime::UNIX_EPOCH,
        };
        let debug = format!("{session:?}");
        assert!(debug.starts_with(r#"Session { token: "[redacted]", user: User { id: 1"#));
        assert!(!debug.contains("t0k3n"), "{debug}");
    }

    #[test]
    fn a_new_password_follows_sign_up_rules() {
        let change = |current: &str, new: &str| ChangePassword {
            current_password: current.into(),
            new_password: new.into(),
        };
        let fields = |c: ChangePassword| -> Vec<String> {
            c.validate()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert!(fields(change("old password here", "new password here")).is_empty());
        assert_eq!(
            fields(change("", "short")),
            ["current_password", "new_password"]
        );
        assert!(fields(change("same password here", "same password here")).is_empty());
        let debug = format!("{:?}", change("old password here", "new password here"));
        assert!(!debug.contains("password here"), "{debug}");
    }

    #[test]
    fn signup_reports_every_invalid_field() {
        let req = SignupRequest {
            email: "nope".into(),
            password: "short".into(),
            name: " ".into(),
            organization: Some("\u{7}".into()),
            invitation: Some("nope".into()),
        };
        let errors = req.validate().expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["email", "password", "name", "organization", "invitation"]
        );
    }
}
