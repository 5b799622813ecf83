//! The demo account of `cargo xtask dev`: signed in (or, on a fresh database, signed up) with a
//! fixed password, its organization given a SleakOps key, so the local app releases at once.
//!
//! The calls go through `faro-fixtures`' HTTP client but answer with errors, not panics: a
//! second start signs in where the first signed up, and a refusal must not stop `dev`.

use faro_fixtures::Api;
use faro_types::{LoginRequest, Organization, Session, SignupRequest};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Hint;

pub const EMAIL: &str = "demo@faro.local";
/// Local only: the dev database is this machine's, and the README documents it.
pub const PASSWORD: &str = "faro-demo-password";
pub const NAME: &str = "Demo";
/// The name of the organization the demo account creates at sign-up.
pub const ORGANIZATION: &str = "Demo";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{call}: no answer ({reason})")]
    Unanswered { call: String, reason: String },
    #[error("{call}: HTTP {status}: {body}")]
    Refused {
        call: String,
        status: u16,
        body: String,
    },
    #[error("{EMAIL} exists with another password")]
    PasswordChanged,
    #[error("{EMAIL} belongs to no organization")]
    NoOrganization,
    #[error("starting the HTTP client's runtime: {0}")]
    Runtime(std::io::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::PasswordChanged => format!(
                "sign in as {EMAIL} with the password you gave it, or start afresh with an empty \
                 dev database (`DROP DATABASE faro_dev`)"
            ),
            Self::Refused { call, .. } if call.contains("sleakops-key") => {
                "the key was refused by SleakOps: check FARO_SLEAKOPS_API_KEY, or unset it to \
                 use the simulator"
                    .into()
            }
            _ => return None,
        })
    }
}

/// The demo account's organization, with its SleakOps key set.
#[derive(Debug)]
pub struct Demo {
    pub organization: Organization,
    /// Whether the account was created by this run.
    pub signed_up: bool,
}

/// Signs in the demo account at `base` (signing it up the first time) and gives its organization
/// `sleakops_key`, unless it has that key already.
pub fn prepare(base: &str, sleakops_key: &str) -> Result<Demo, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let api = Api::new(base);
    runtime.block_on(async {
        let (token, signed_up) = sign_in_or_up(&api).await?;
        let mut organization = organization(&api, &token).await?;
        if !has_key(&organization, sleakops_key) {
            let path = format!("/api/orgs/{}/sleakops-key", organization.slug);
            let body = json!({ "api_key": sleakops_key });
            let status = call(&api, Some(&token), Method::PUT, &path, Some(&body)).await?;
            organization.sleakops_key = expect(status, StatusCode::OK, &path)?;
        }
        Ok(Demo {
            organization,
            signed_up,
        })
    })
}

/// A session of the demo account, and whether it was signed up now.
async fn sign_in_or_up(api: &Api) -> Result<(String, bool), Error> {
    let login = LoginRequest {
        email: EMAIL.into(),
        password: PASSWORD.into(),
    };
    let path = "/api/auth/login";
    let answer = call(api, None, Method::POST, path, Some(&json!(login))).await?;
    if answer.0 == StatusCode::OK {
        let session: Session = expect(answer, StatusCode::OK, path)?;
        return Ok((session.token, false));
    }
    if answer.0 != StatusCode::UNAUTHORIZED {
        return Err(refused(path, answer));
    }
    let path = "/api/auth/signup";
    let answer = call(api, None, Method::POST, path, Some(&json!(signup()))).await?;
    if answer.0 == StatusCode::CONFLICT {
        return Err(Error::PasswordChanged);
    }
    let session: Session = expect(answer, StatusCode::CREATED, path)?;
    Ok((session.token, true))
}

/// The demo account's sign-up, which creates its organization.
fn signup() -> SignupRequest {
    SignupRequest {
        email: EMAIL.into(),
        password: PASSWORD.into(),
        name: NAME.into(),
        organization: Some(ORGANIZATION.into()),
        invitation: None,
    }
}

/// The demo account's organization: the one named [`ORGANIZATION`], else its first.
async fn organization(api: &Api, token: &str) -> Result<Organization, Error> {
    let path = "/api/orgs";
    let answer = call(api, Some(token), Method::GET, path, None).await?;
    let orgs: Vec<Organization> = expect(answer, StatusCode::OK, path)?;
    pick(orgs).ok_or(Error::NoOrganization)
}

fn pick(mut orgs: Vec<Organization>) -> Option<Organization> {
    let at = orgs
        .iter()
        .position(|o| o.name == ORGANIZATION)
        .unwrap_or(0);
    (at < orgs.len()).then(|| orgs.swap_remove(at))
}

/// Whether `org` has `key` already, as far as its last four characters tell: setting it again
/// would only add an audit entry per start.
fn has_key(org: &Organization, key: &str) -> bool {
    let last4 = key.get(key.len().saturating_sub(4)..);
    org.sleakops_key.configured && org.sleakops_key.last4.as_deref() == last4
}

/// A status and a body, whatever they are.
type Answer = (StatusCode, String);

async fn call(
    api: &Api,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, Error> {
    let mut request = api.client.request(method, api.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let unanswered = |e: reqwest::Error| Error::Unanswered {
        call: path.to_owned(),
        reason: e.to_string(),
    };
    let response = request.send().await.map_err(unanswered)?;
    let status = response.status();
    Ok((status, response.text().await.map_err(unanswered)?))
}

fn expect<T: DeserializeOwned>(answer: Answer, want: StatusCode, path: &str) -> Result<T, Error> {
    if answer.0 != want {
        return Err(refused(path, answer));
    }
    serde_json::from_str(&answer.1).map_err(|e| Error::Refused {
        call: path.to_owned(),
        status: answer.0.as_u16(),
        body: format!("not the expected JSON ({e})"),
    })
}

fn refused(path: &str, (status, body): Answer) -> Error {
    Error::Refused {
        call: path.to_owned(),
        status: status.as_u16(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_types::{OrgRole, SleakopsKeyStatus};

    fn org(name: &str, last4: Option<&str>) -> Organization {
        Organization {
            id: 1,
            slug: name.to_lowercase(),
            name: name.into(),
            role: OrgRole::Owner,
            sleakops_key: SleakopsKeyStatus {
                configured: last4.is_some(),
                last4: last4.map(String::from),
                set_by: None,
                set_at: None,
            },
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_key_is_set_again_only_when_it_differs() {
        assert!(!has_key(&org("Demo", None), "sim-sleakops-key"));
        assert!(has_key(&org("Demo", Some("-key")), "sim-sleakops-key"));
        assert!(!has_key(&org("Demo", Some("real")), "sim-sleakops-key"));
    }

    #[test]
    fn the_demo_organization_is_the_one_named_demo() {
        let picked = pick(vec![org("Other", None), org(ORGANIZATION, None)]).unwrap();
        assert_eq!(picked.name, ORGANIZATION);
        assert_eq!(pick(vec![org("Other", None)]).unwrap().name, "Other");
        assert!(pick(Vec::new()).is_none());
    }

    #[test]
    fn the_demo_account_passes_the_sign_up_rules() {
        assert!(signup().validate().is_ok());
    }
}
