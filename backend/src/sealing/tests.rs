use super::*;
use crate::config::EncryptionConfig;
use faro_resilience::Secret;

const KEY_A: &str = "k0FZq3n8VXrjYbTPmV9d1bJ6k2Wq0tqvG4o8yvJHfGs=";
const KEY_B: &str = "Yd7Rk2bW9pLq4XvN8sT1mC6fH3jZ0aE5uQ2wK8rB7nMxP4tV9yL1cD6gS3hJ0kF";
const PLAINTEXT: &str = "sk-sleakops-0123456789abcdef";

fn ring(current: &str, previous: Option<&str>) -> KeyRing {
    KeyRing::from_config(&EncryptionConfig {
        key: Secret::new(current),
        previous: previous.map(Secret::new),
    })
}

#[test]
fn a_sealed_key_opens_for_its_organization() {
    let keys = ring(KEY_A, None);
    let sealed = keys.seal(7, PLAINTEXT).expect("seals");
    assert_eq!(sealed.key_id, keys.current_id());
    assert_eq!(
        sealed.ciphertext.len(),
        PLAINTEXT.len() + 16,
        "ciphertext and tag"
    );
    let opened = keys.open(7, &sealed).expect("opens");
    assert_eq!(opened.expose(), PLAINTEXT);
}

#[test]
fn sealing_the_same_key_twice_gives_different_values() {
    let keys = ring(KEY_A, None);
    let (one, two) = (
        keys.seal(7, PLAINTEXT).unwrap(),
        keys.seal(7, PLAINTEXT).unwrap(),
    );
    assert_ne!(one.nonce, two.nonce);
    assert_ne!(one.ciphertext, two.ciphertext);
}

#[test]
fn an_altered_value_does_not_open() {
    let keys = ring(KEY_A, None);
    let sealed = keys.seal(7, PLAINTEXT).unwrap();
    for at in [0, sealed.ciphertext.len() - 1] {
        let mut altered = sealed.clone();
        altered.ciphertext[at] ^= 1;
        let err = keys.open(7, &altered).expect_err("tampered");
        assert!(matches!(err, SealingError::DoesNotOpen { .. }), "{err}");
    }
    let mut altered = sealed.clone();
    altered.nonce[0] ^= 1;
    assert!(keys.open(7, &altered).is_err());
}

#[test]
fn a_value_moved_to_another_organization_does_not_open() {
    let keys = ring(KEY_A, None);
    let sealed = keys.seal(7, PLAINTEXT).unwrap();
    let err = keys
        .open(8, &sealed)
        .expect_err("another org's associated data");
    assert!(matches!(err, SealingError::DoesNotOpen { .. }), "{err}");
    assert!(!err.to_string().contains(PLAINTEXT));
}

#[test]
fn another_key_does_not_open_it() {
    let sealed = ring(KEY_A, None).seal(7, PLAINTEXT).unwrap();
    let other = ring(KEY_B, None);
    let err = other.open(7, &sealed).expect_err("unknown key id");
    assert!(matches!(err, SealingError::UnknownKey { .. }), "{err}");
    // Even under the other key's id, the tag tells.
    let forged = Sealed {
        key_id: other.current_id().to_owned(),
        ..sealed
    };
    let err = other.open(7, &forged).expect_err("wrong key");
    assert!(matches!(err, SealingError::DoesNotOpen { .. }), "{err}");
}

#[test]
fn the_previous_key_opens_what_it_sealed_and_the_current_one_seals() {
    let old = ring(KEY_A, None);
    let sealed = old.seal(7, PLAINTEXT).unwrap();
    let rotated = ring(KEY_B, Some(KEY_A));
    assert_eq!(rotated.previous_id(), Some(old.current_id()));
    assert_eq!(rotated.open(7, &sealed).unwrap().expose(), PLAINTEXT);
    assert_eq!(
        rotated.seal(7, PLAINTEXT).unwrap().key_id,
        rotated.current_id()
    );
    assert_eq!(
        ring(KEY_A, Some(KEY_A)).previous_id(),
        None,
        "one key, not a rotation"
    );
}

#[test]
fn key_ids_are_stable_fingerprints_that_show_no_key() {
    let keys = ring(KEY_A, Some(KEY_B));
    // Pinned: a change of derivation would orphan every value sealed before it.
    assert_eq!(keys.current_id(), "3271a932687c65b1");
    assert_eq!(keys.current_id(), ring(KEY_A, None).current_id());
    assert_ne!(keys.current_id(), ring(KEY_B, None).current_id());
    let debug = format!("{keys:?}");
    assert!(debug.contains(keys.current_id()), "{debug}");
    for secret in [KEY_A, KEY_B, &KEY_A[..12], &KEY_B[..12]] {
        assert!(!debug.contains(secret), "{debug}");
    }
    let sealed = format!("{:?}", keys.seal(7, PLAINTEXT).unwrap());
    assert!(!sealed.contains("ciphertext:"), "{sealed}");
}

#[test]
fn check_values_tell_the_right_key_from_another() {
    let keys = ring(KEY_A, Some(KEY_B));
    let value = keys.check_value().unwrap();
    assert!(value.len() <= 128, "fits encryption_keys.check_value");
    assert!(keys.opens_check(Role::Current, &value));
    assert!(!keys.opens_check(Role::Previous, &value));
    assert!(!ring(KEY_B, None).opens_check(Role::Current, &value));
    assert!(!keys.opens_check(Role::Current, &value[..11]));
}

#[test]
fn random_keys_of_either_kind_are_accepted() {
    // base64 of 32 random bytes, and what Secrets Manager generates without punctuation.
    for key in [
        KEY_A,
        KEY_B,
        "abcdefgh-_+/=ABCDEFGH0123456789abcdefgh0123456",
    ] {
        assert_eq!(check_format(key), Ok(()), "{key}");
    }
}

#[test]
fn placeholders_and_short_keys_are_refused_without_being_quoted() {
    let placeholder = "changeme".repeat(6);
    let cases = [
        ("", "0 characters"),
        (&KEY_A[..42], "42 characters"),
        (placeholder.as_str(), "different characters"),
        ("k0FZq3n8VXrjYbTPmV9d1bJ6k2Wq0tqvG4o8yvJHfGs!", "outside"),
        ("k0FZq3n8VXrjYbTPmV9d1bJ6k2Wq0tq vG4o8yvJHfGs", "outside"),
    ];
    for (key, reason) in cases {
        let err = check_format(key).expect_err(key);
        assert!(err.contains(reason), "{key}: {err}");
        assert!(key.is_empty() || !err.contains(&key[..8]), "{err}");
    }
}
