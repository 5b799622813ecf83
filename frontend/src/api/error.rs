//! What can go wrong talking to the API, in words a person can act on.

use faro_types::{Problem, ProblemType};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No answer at all: offline, DNS, CORS, the server down.
    #[error("Faro's server could not be reached ({0}). Check your connection and try again.")]
    Network(String),
    /// An RFC 9457 problem from the API (boxed: it is large, and errors travel far).
    #[error("{}", problem_message(.0))]
    Problem(Box<Problem>),
    /// An answer that is not what this build of the app expects.
    #[error("Faro's server sent an unexpected answer (HTTP {status}): {detail}")]
    Unexpected { status: u16, detail: String },
}

fn problem_message(problem: &Problem) -> String {
    match problem.detail.as_deref() {
        Some(detail) if !detail.is_empty() => detail.to_owned(),
        _ => problem.title.clone(),
    }
}

impl ApiError {
    /// An error status whose body was not a problem document (a proxy's HTML page…).
    pub fn from_status(status: u16, body: &str) -> Self {
        match serde_json::from_str::<Problem>(body) {
            Ok(problem) => Self::Problem(Box::new(problem)),
            Err(_) => {
                let kind = ProblemType::for_status(status);
                let title = match kind {
                    ProblemType::Unauthorized => "Please sign in.",
                    ProblemType::NotFound => "Not found.",
                    ProblemType::ServiceUnavailable | ProblemType::GatewayTimeout => {
                        "Faro is busy or restarting; try again in a moment."
                    }
                    _ => "The request failed.",
                };
                Self::Problem(Box::new(Problem::new(kind, status, title)))
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Problem(p) => Some(p.status),
            Self::Unexpected { status, .. } => Some(*status),
            Self::Network(_) => None,
        }
    }

    pub fn kind(&self) -> Option<ProblemType> {
        match self {
            Self::Problem(p) => Some(p.kind()),
            _ => None,
        }
    }

    /// The session is missing or over.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Problem(p) => Some(p.as_ref()),
            _ => None,
        }
    }

    /// The id to quote when reporting the problem.
    pub fn request_id(&self) -> Option<&str> {
        self.problem().and_then(|p| p.request_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_their_detail() {
        let body = r#"{"type":"/problems/conflict","title":"Conflict","status":409,"detail":"An account with this email already exists; sign in instead.","field":"email","errors":[{"field":"email","message":"An account with this email already exists; sign in instead."}],"request_id":"r-1"}"#;
        let err = ApiError::from_status(409, body);
        assert_eq!(
            err.to_string(),
            "An account with this email already exists; sign in instead."
        );
        assert_eq!(err.kind(), Some(ProblemType::Conflict));
        assert_eq!(err.request_id(), Some("r-1"));
    }

    #[test]
    fn other_bodies_still_become_problems() {
        let err = ApiError::from_status(502, "<html>Bad gateway</html>");
        assert_eq!(err.status(), Some(502));
        assert_eq!(err.to_string(), "The request failed.");
        assert!(ApiError::from_status(401, "").is_unauthorized());
        assert!(ApiError::from_status(404, "").is_not_found());
        assert!(
            ApiError::Network("offline".into())
                .to_string()
                .contains("could not be reached")
        );
    }
}
