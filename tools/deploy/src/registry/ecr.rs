//! ECR's registry credentials: `GetAuthorizationToken` gives `base64("AWS:<password>")`,
//! which the registry takes as HTTP basic auth.

use base64::Engine;

use super::Credentials;
use crate::Hint;
use crate::aws::{Aws, sdk};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ECR GetAuthorizationToken failed: {0}")]
    Call(String),
    #[error("ECR returned an authorization token that is not base64 `user:password`")]
    Malformed,
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Call(_) => {
                "check the AWS credentials and that they allow ecr:GetAuthorizationToken".into()
            }
            Self::Malformed => "retry; if it persists, the endpoint is not ECR".into(),
        })
    }
}

/// Registry credentials for the account's ECR.
pub async fn credentials(aws: &Aws) -> Result<Credentials, Error> {
    let out = sdk!(aws.ecr.get_authorization_token(), Error::Call)?;
    let token = out
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .ok_or(Error::Malformed)?;
    decode(token)
}

fn decode(token: &str) -> Result<Credentials, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| Error::Malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(Error::Malformed)?;
    Ok(Credentials {
        username: Some(user.to_string()),
        password: Some(password.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_token() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pa:ss");
        let c = decode(&token).unwrap();
        assert_eq!(c.username.as_deref(), Some("AWS"));
        assert_eq!(c.password.as_deref(), Some("pa:ss"));
        assert!(decode("!!").is_err());
    }
}
