//! SleakOps' CLI API bodies.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A build's or deployment's id. SleakOps sends numbers; strings are accepted too, and the
/// id is sent back the way it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u64>() {
            Ok(n) if n.to_string() == self.0 => serializer.serialize_u64(n),
            _ => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Self(n.to_string()),
            Raw::Text(s) if !s.is_empty() => Self(s),
            Raw::Text(_) => return Err(serde::de::Error::custom("an empty id")),
        })
    }
}

/// Which project (and for deployments, which of its environments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectEnv {
    pub project_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_name: Option<String>,
}

/// `POST cli-build/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRequest {
    pub project_env: ProjectEnv,
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl BuildRequest {
    pub fn new(project_name: impl Into<String>, branch: impl Into<String>) -> Self {
        Self {
            project_env: ProjectEnv {
                project_name: project_name.into(),
                environment_name: None,
            },
            branch: branch.into(),
            commit: None,
            tag: None,
            environment: None,
        }
    }
}

/// `POST cli-deployment/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    pub project_env: ProjectEnv,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<ResourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl DeploymentRequest {
    pub fn new(project_name: impl Into<String>, environment_name: impl Into<String>) -> Self {
        Self {
            project_env: ProjectEnv {
                project_name: project_name.into(),
                environment_name: Some(environment_name.into()),
            },
            build: None,
            image: None,
            tag: None,
        }
    }
}

/// Where a build or deployment is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum State {
    Initial,
    Creating,
    Created,
    Error,
    /// A state this client does not know yet; treated as still running.
    Other(String),
}

impl State {
    pub fn parse(value: &str) -> Self {
        match value {
            "initial" => Self::Initial,
            "creating" => Self::Creating,
            "created" => Self::Created,
            "error" => Self::Error,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Initial => "initial",
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Error => "error",
            Self::Other(other) => other,
        }
    }

    /// `created` or `error`: it will not change again.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Created | Self::Error)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A build as SleakOps reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub id: ResourceId,
    pub state: State,
    /// What went wrong, once `state` is `error`.
    pub errors: Vec<String>,
    /// The commit SleakOps builds: the one it was asked for, or the branch's head when none
    /// was. Only a commit SHA (7–40 hex digits, kept in lower case) is taken; a missing,
    /// null or empty one is `None`, and so is anything else, with a warning, since a value
    /// Faro would show as a commit must be one.
    pub commit: Option<String>,
}

/// A deployment as SleakOps reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: ResourceId,
    pub state: State,
    pub errors: Vec<String>,
}

/// The fields both share; SleakOps sends more, which are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct WireJob {
    pub id: ResourceId,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub errors: Option<serde_json::Value>,
    /// Builds only; any shape, checked by [`commit_of`].
    #[serde(default)]
    pub commit: Option<serde_json::Value>,
}

impl WireJob {
    fn parts(self) -> (ResourceId, State, Vec<String>) {
        let state = self.state.as_deref().map_or(State::Initial, State::parse);
        let errors = self.errors.as_ref().map(messages).unwrap_or_default();
        (self.id, state, errors)
    }
}

impl From<WireJob> for Build {
    fn from(mut job: WireJob) -> Self {
        let commit = commit_of(&job.id, job.commit.take());
        let (id, state, errors) = job.parts();
        Self {
            id,
            state,
            errors,
            commit,
        }
    }
}

/// The commit of build `id`'s answer, if it is a commit SHA (see [`Build::commit`]).
fn commit_of(id: &ResourceId, value: Option<serde_json::Value>) -> Option<String> {
    match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.is_empty() => None,
        // The rule a release's own `commit_sha` is held to.
        Some(serde_json::Value::String(s)) if faro_types::validate::commit_sha(&s).is_none() => {
            Some(s.to_ascii_lowercase())
        }
        Some(other) => {
            tracing::warn!(build = %id, commit = %other, "SleakOps reported a malformed commit; ignored");
            None
        }
    }
}

impl From<WireJob> for Deployment {
    fn from(job: WireJob) -> Self {
        let (id, state, errors) = job.parts();
        Self { id, state, errors }
    }
}

/// The human messages in an error value of any shape: a string, a list, or an object of
/// field → messages (Django REST framework's style), `detail` and `non_field_errors`
/// unprefixed.
pub fn messages(value: &serde_json::Value) -> Vec<String> {
    fn walk(value: &serde_json::Value, prefix: Option<&str>, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => out.push(match prefix {
                Some(p) => format!("{p}: {s}"),
                None => s.clone(),
            }),
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, prefix, out);
                }
            }
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let own = match key.as_str() {
                        "detail" | "non_field_errors" | "reason" | "message" | "error"
                        | "errors" => None,
                        key => Some(key),
                    };
                    let joined = match (prefix, own) {
                        (Some(p), Some(k)) => Some(format!("{p}.{k}")),
                        (Some(p), None) => Some(p.to_owned()),
                        (None, k) => k.map(str::to_owned),
                    };
                    walk(value, joined.as_deref(), out);
                }
            }
            other => out.push(match prefix {
                Some(p) => format!("{p}: {other}"),
                None => other.to_string(),
            }),
        }
    }
    let mut out = Vec::new();
    walk(value, None, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_round_trip_as_they_came() {
        let n: ResourceId = serde_json::from_value(json!(42)).expect("number");
        assert_eq!(n.as_str(), "42");
        assert_eq!(serde_json::to_value(&n).expect("json"), json!(42));
        let s: ResourceId = serde_json::from_value(json!("b-7")).expect("string");
        assert_eq!(serde_json::to_value(&s).expect("json"), json!("b-7"));
        assert!(serde_json::from_value::<ResourceId>(json!("")).is_err());
    }

    #[test]
    fn requests_leave_out_what_is_not_set() {
        let body = serde_json::to_value(BuildRequest::new("shop", "main")).expect("json");
        assert_eq!(
            body,
            json!({"project_env": {"project_name": "shop"}, "branch": "main"})
        );
        let mut deploy = DeploymentRequest::new("shop", "prod");
        deploy.build = Some(ResourceId::new("9"));
        assert_eq!(
            serde_json::to_value(deploy).expect("json"),
            json!({"project_env": {"project_name": "shop", "environment_name": "prod"}, "build": 9})
        );
    }

    fn build(answer: serde_json::Value) -> Build {
        Build::from(serde_json::from_value::<WireJob>(answer).expect("a build"))
    }

    #[test]
    fn a_build_reports_its_commit_only_when_it_is_a_sha() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            build(json!({"id": 1, "commit": sha})).commit.as_deref(),
            Some(sha)
        );
        assert_eq!(
            build(json!({"id": 1, "commit": "ABC1234"}))
                .commit
                .as_deref(),
            Some("abc1234"),
            "kept in lower case"
        );
        for nothing in [
            json!({"id": 1}),
            json!({"id": 1, "commit": null}),
            json!({"id": 1, "commit": ""}),
        ] {
            assert_eq!(build(nothing.clone()).commit, None, "{nothing}");
        }
        for malformed in [
            json!("abc123"),
            json!(format!("{sha}0")),
            json!("main"),
            json!("abc 1234"),
            json!(1234567),
            json!({"sha": sha}),
        ] {
            assert_eq!(
                build(json!({"id": 1, "commit": malformed})).commit,
                None,
                "{malformed}"
            );
        }
    }

    #[test]
    fn error_values_of_any_shape_flatten() {
        assert_eq!(messages(&json!("boom")), ["boom"]);
        assert_eq!(messages(&json!(["a", "b"])), ["a", "b"]);
        assert_eq!(
            messages(
                &json!({"detail": "Not ready", "project_env": {"project_name": ["Required."]}})
            ),
            ["Not ready", "project_env.project_name: Required."]
        );
        assert!(messages(&json!(null)).is_empty());
    }
}
