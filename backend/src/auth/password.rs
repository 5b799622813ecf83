//! Password hashing with Argon2id (OWASP's first choice), off the async threads.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes with Argon2id's default parameters (19 MiB, 2 passes), salted, in PHC format.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await?
}

/// Checks `password` against a stored hash. The comparison inside is constant-time. With no
/// stored hash (unknown account) a dummy hash is checked anyway, so response time does not
/// tell whether an account exists.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a real password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse battery".into()).await.expect("hash");
        let b = hash("correct horse battery".into()).await.expect("hash");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery".into(), Some(a.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse battery".into(), Some(a))
                .await
                .expect("verify")
        );
        assert!(!verify("anything".into(), None).await.expect("verify"));
    }
}
