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
}

impl SignupRequest {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        validate::Errors::new()
            .check("email", validate::email(self.email.trim()))
            .check("password", validate::password(&self.password))
            .check("name", validate::display_name(&self.name))
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
            .check("email", validate::email(self.email.trim()))
            .check(
                "password",
                self.password
                    .is_empty()
                    .then(|| "must not be empty".to_owned()),
            )
            .finish()
    }
}

// Passwords never reach logs, not even through `{:?}`.
impl fmt::Debug for SignupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupRequest")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("name", &self.name)
            .finish()
    }
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

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

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &"[redacted]")
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        let req = SignupRequest {
            email: "a@b.co".into(),
            password: "hunter2hunter2".into(),
            name: "A".into(),
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }

    #[test]
    fn signup_reports_every_invalid_field() {
        let req = SignupRequest {
            email: "nope".into(),
            password: "short".into(),
            name: " ".into(),
        };
        let errors = req.validate().expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "name"]);
    }
}
