//! The key-encryption keys: their format, derivation and id, and sealing under them.

use super::{Role, Sealed, SealingError};
use crate::config::EncryptionConfig;
use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use faro_resilience::Secret;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::{collections::BTreeSet, fmt};
use zeroize::Zeroizing;

/// Shortest value: 43 characters of a 64-letter alphabet carry 258 bits.
const MIN_LEN: usize = 43;
const MAX_LEN: usize = 512;
/// Fewer different characters than this is a placeholder ("changeme…"), not a random value.
const MIN_DISTINCT: usize = 8;
/// Versions the derivation and the id: a new scheme gets new ids, never a clash.
const DOMAIN: &[u8] = b"faro-kek-v1";
const DERIVED_INFO: &[u8] = b"faro sealing key";
/// What the check value seals (and its associated data): opening it proves the key.
const CHECK: &[u8] = b"faro-encryption-key-check";

/// Whether `value` is a usable KEK: at least 43 characters of `A-Z a-z 0-9 + / = _ -` (the
/// base64 of 32 random bytes is 44; Secrets Manager's generated secrets fit with
/// `ExcludePunctuation`), at least 8 of them different. The reason never quotes the value.
pub fn check_format(value: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
    let len = value.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(format!(
            "{len} characters; {MIN_LEN} to {MAX_LEN} are needed"
        ));
    }
    if !value.chars().all(allowed) {
        return Err("it has a character outside A-Z a-z 0-9 + / = _ -".into());
    }
    if value.chars().collect::<BTreeSet<_>>().len() < MIN_DISTINCT {
        return Err(format!(
            "fewer than {MIN_DISTINCT} different characters: not a random value"
        ));
    }
    Ok(())
}

/// One KEK, ready to seal and open. `Debug` shows its id only.
struct Kek {
    id: String,
    cipher: Aes256Gcm,
}

impl Kek {
    fn derive(value: &Secret) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(DOMAIN), value.expose().as_bytes())
            .expand(DERIVED_INFO, key.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let digest = Sha256::new()
            .chain_update(DOMAIN)
            .chain_update(key.as_slice())
            .finalize();
        Self {
            id: hex::encode(&digest[..8]),
            // Borrowed, not copied: `key` is the one copy, wiped when it drops.
            cipher: Aes256Gcm::new(<&Key<Aes256Gcm>>::from(&*key)),
        }
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, SealingError> {
        let mut nonce = [0u8; 12];
        // The OS's generator failing is not something a request can recover from.
        getrandom::fill(&mut nonce).expect("the operating system provides random bytes");
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealingError::TooLong {
                len: plaintext.len(),
            })?;
        Ok(Sealed {
            key_id: self.id.clone(),
            nonce,
            ciphertext,
        })
    }

    /// The plaintext, wiped when dropped.
    fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealingError> {
        self.cipher
            .decrypt(
                &Nonce::from(sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealingError::DoesNotOpen {
                key_id: sealed.key_id.clone(),
            })
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The configured KEKs: the current one seals, both open.
#[derive(Debug)]
pub struct KeyRing {
    current: Kek,
    previous: Option<Kek>,
}

impl KeyRing {
    pub fn from_config(config: &EncryptionConfig) -> Self {
        let current = Kek::derive(&config.key);
        // The same value twice is one key, not a rotation.
        let previous = config
            .previous
            .as_ref()
            .map(Kek::derive)
            .filter(|previous| previous.id != current.id);
        Self { current, previous }
    }

    /// The id rows sealed from now on record.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn previous_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|kek| kek.id.as_str())
    }

    /// Whether a value sealed under `key_id` opens with one of these keys.
    pub fn knows(&self, key_id: &str) -> bool {
        self.kek(key_id).is_some()
    }

    /// Seals organization `org_id`'s `plaintext` under the current key with a fresh nonce.
    pub fn seal(&self, org_id: u64, plaintext: &str) -> Result<Sealed, SealingError> {
        self.current
            .seal(plaintext.as_bytes(), org_id.to_string().as_bytes())
    }

    /// Opens what [`seal`](Self::seal) sealed for `org_id`, under whichever configured key
    /// `sealed.key_id` names.
    pub fn open(&self, org_id: u64, sealed: &Sealed) -> Result<Secret, SealingError> {
        let kek = self
            .kek(&sealed.key_id)
            .ok_or_else(|| SealingError::UnknownKey {
                key_id: sealed.key_id.clone(),
            })?;
        let mut plaintext = kek.open(sealed, org_id.to_string().as_bytes())?;
        // Moved, not copied, into the Secret, which wipes it when dropped.
        let bytes = std::mem::take(&mut *plaintext);
        String::from_utf8(bytes).map(Secret::from).map_err(|err| {
            // The bytes are a credential even when they are not text.
            drop(Zeroizing::new(err.into_bytes()));
            SealingError::NotText {
                key_id: sealed.key_id.clone(),
            }
        })
    }

    /// A fresh check value of the current key: nonce ‖ AES-256-GCM of a fixed text.
    pub(super) fn check_value(&self) -> Result<Vec<u8>, SealingError> {
        let sealed = self.current.seal(CHECK, CHECK)?;
        Ok([sealed.nonce.as_slice(), &sealed.ciphertext].concat())
    }

    /// Whether `value` is a check value of the key in `role`.
    pub(super) fn opens_check(&self, role: Role, value: &[u8]) -> bool {
        let kek = match role {
            Role::Current => Some(&self.current),
            Role::Previous => self.previous.as_ref(),
        };
        let (Some(kek), Some((nonce, ciphertext))) = (kek, value.split_first_chunk::<12>()) else {
            return false;
        };
        let sealed = Sealed {
            key_id: kek.id.clone(),
            nonce: *nonce,
            ciphertext: ciphertext.to_vec(),
        };
        kek.open(&sealed, CHECK)
            .is_ok_and(|opened| opened.as_slice() == CHECK)
    }

    fn kek(&self, key_id: &str) -> Option<&Kek> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|kek| kek.id == key_id)
    }
}
