//! Form state shared by every form: which field is wrong and why, from the app's own checks
//! (the rules of `faro_types::validate`, the very ones the API applies) or from the API's
//! problem document.

use crate::api::ApiError;
use faro_types::FieldError;

/// The errors a form shows: next to each field, or above the submit button.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    fields: Vec<FieldError>,
    /// What belongs to no field of the form (a 403, the network…).
    pub general: Option<String>,
}

impl FormErrors {
    pub fn none() -> Self {
        Self::default()
    }

    /// The result of a request type's `validate()`.
    pub fn from_validation(result: Result<(), Vec<FieldError>>) -> Self {
        Self {
            fields: result.err().unwrap_or_default(),
            general: None,
        }
    }

    /// An API error: field errors of `form_fields` go next to their field, everything else
    /// (other fields, such as a header, and errors without a field) above the button.
    pub fn from_api(error: &ApiError, form_fields: &[&str]) -> Self {
        let Some(problem) = error.problem() else {
            return Self {
                fields: Vec::new(),
                general: Some(error.to_string()),
            };
        };
        let (mine, others): (Vec<FieldError>, Vec<FieldError>) = problem
            .errors
            .iter()
            .cloned()
            .partition(|e| form_fields.contains(&e.field.as_str()));
        let general = if mine.is_empty() || !others.is_empty() {
            let mut text = error.to_string();
            for other in &others {
                if !text.contains(&other.message) {
                    text = format!("{text} ({}: {})", other.field, other.message);
                }
            }
            Some(text)
        } else {
            None
        };
        Self {
            fields: mine,
            general,
        }
    }

    pub fn general(message: impl Into<String>) -> Self {
        Self {
            fields: Vec::new(),
            general: Some(message.into()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// The message for `field`, if it is wrong.
    pub fn field(&self, field: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    /// The first wrong field, to move the focus there.
    pub fn first_field(&self) -> Option<&str> {
        self.fields.first().map(|e| e.field.as_str())
    }
}

/// An optional text input: blank means absent.
pub fn optional(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_types::{CreateRelease, Problem, ProblemType, SignupRequest};

    #[test]
    fn own_checks_name_each_field() {
        let request = CreateRelease {
            environment: "Staging!".into(),
            branch: "feature/x".into(),
            commit_sha: optional("xyz"),
            tag: optional("  "),
            commit_time: None,
        };
        let errors = FormErrors::from_validation(request.validate());
        assert_eq!(errors.first_field(), Some("environment"));
        assert!(errors.field("commit_sha").unwrap().contains("hexadecimal"));
        assert_eq!(errors.field("branch"), None);
        assert_eq!(errors.field("tag"), None, "a blank tag is no tag");
        assert!(errors.general.is_none());

        let fine = SignupRequest {
            email: "ada@example.com".into(),
            password: "correct horse battery".into(),
            name: "Ada".into(),
            organization: optional(" "),
            invitation: None,
        };
        assert!(FormErrors::from_validation(fine.validate()).is_empty());
    }

    #[test]
    fn api_field_errors_go_next_to_their_fields() {
        let problem = Problem::new(ProblemType::Validation, 422, "Invalid input")
            .with_field_error("slug", "must be lowercase letters")
            .with_field_error("name", "must not be empty");
        let errors = FormErrors::from_api(&ApiError::Problem(Box::new(problem)), &["slug", "name"]);
        assert_eq!(
            errors.field("slug").as_deref(),
            Some("must be lowercase letters")
        );
        assert_eq!(errors.first_field(), Some("slug"));
        assert_eq!(errors.general, None);
    }

    #[test]
    fn errors_of_no_field_of_the_form_are_shown_above_it() {
        let problem = Problem::new(ProblemType::Validation, 422, "Invalid input")
            .with_field_error("Idempotency-Key", "was used for a different request");
        let errors = FormErrors::from_api(&ApiError::Problem(Box::new(problem)), &["branch"]);
        assert_eq!(errors.field("branch"), None);
        let general = errors.general.unwrap();
        assert!(
            general.contains("Idempotency-Key: was used for a different request"),
            "{general}"
        );

        let forbidden = Problem::new(ProblemType::Forbidden, 403, "Forbidden")
            .with_detail("Releasing needs the maintainer role.");
        let errors = FormErrors::from_api(&ApiError::Problem(Box::new(forbidden)), &["branch"]);
        assert_eq!(
            errors.general.as_deref(),
            Some("Releasing needs the maintainer role.")
        );

        let offline = FormErrors::from_api(&ApiError::Network("offline".into()), &["branch"]);
        assert!(offline.general.unwrap().contains("could not be reached"));
    }
}
