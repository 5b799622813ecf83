//! Organizations' SleakOps keys sealed at rest: what the table holds, the start-up check of
//! `FARO_ENCRYPTION_KEY`, and a rotation through `FARO_ENCRYPTION_KEY_PREVIOUS` and `rekey`.

use faro_backend::{
    App, Config, StartupError,
    sealing::{self, KeyRing, SealingError},
};
use faro_testkit::{
    TestApp,
    app::{services, test_vars},
};
use sqlx::{MySqlPool, mysql::MySqlRow};

/// Two keys as operators make them: base64 of 32 random bytes, and what Secrets Manager
/// generates.
pub const KEY_A: &str = "q9Vb3kT0m7ZyR2xLw8NcF5hJ1sD6gP4aE0uK7iO3nBQ=";
pub const KEY_B: &str = "W3xr9PqL2mTz7KbN5vYc8HdJ4sF1gA6eU0oI3kR7nQ2wE5tZ9yX4cV8bM1lP6jD0";
const API_KEY: &str = "sk-sleakops-live-7f3a9c2e41b8d605";

/// A new organization, straight into the table (its API is not what is tested here).
pub async fn organization(db: &MySqlPool) -> u64 {
    let slug = faro_testkit::fixtures::unique("org");
    sqlx::query(
        "INSERT INTO organizations (slug, name, created_by, created_at, updated_at) \
         VALUES (?, 'Acme', NULL, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
    )
    .bind(&slug)
    .execute(db)
    .await
    .expect("an organization")
    .last_insert_id()
}

/// Stores `api_key` for `org_id`, sealed under `keys`' current key.
pub async fn store(db: &MySqlPool, keys: &KeyRing, org_id: u64, api_key: &str, set_by: u64) {
    let sealed = keys.seal(org_id, api_key).expect("seals");
    let mut tx = db.begin().await.expect("a transaction");
    let last4 = &api_key[api_key.len() - 4..];
    sealing::store_key(
        &mut tx,
        org_id,
        &sealed,
        last4,
        set_by,
        faro_backend::db::now(),
    )
    .await
    .expect("stored");
    tx.commit().await.expect("committed");
}

/// An account to record as who set a key.
async fn account(app: &TestApp) -> u64 {
    app.signup("Ann").await.user.id
}

/// The app, built on `app`'s database and table with `vars` besides (the keys).
async fn build_beside(app: &TestApp, vars: &[(&str, &str)]) -> Result<App, StartupError> {
    let mut all = test_vars(&services(), &app.state.table);
    all.insert(
        "DATABASE_URL".into(),
        app.state.config.database.url.expose().to_owned(),
    );
    for (var, value) in vars {
        all.insert((*var).to_owned(), (*value).to_owned());
    }
    let config = Config::from_lookup(|k| all.get(k).cloned()).expect("valid configuration");
    App::build(config).await
}

fn current(key: &str) -> [(&'static str, &str); 1] {
    [("FARO_ENCRYPTION_KEY", key)]
}

/// Every key id in `sleakops_keys`, by organization.
async fn key_ids(db: &MySqlPool) -> Vec<String> {
    sqlx::query_scalar("SELECT key_id FROM sleakops_keys ORDER BY org_id")
        .fetch_all(db)
        .await
        .expect("key ids")
}

#[tokio::test]
async fn a_stored_key_is_sealed_and_opens_for_its_organization() {
    let app = TestApp::spawn().await;
    let (db, keys) = (&app.state.db, &app.state.keys);
    let (ann, org) = (account(&app).await, organization(db).await);
    store(db, keys, org, API_KEY, ann).await;

    let sealed = sealing::sealed_key(db, org).await.unwrap().expect("a key");
    assert_eq!(sealed.key_id, keys.current_id());
    assert_eq!(keys.open(org, &sealed).unwrap().expose(), API_KEY);
    let other = organization(db).await;
    assert!(sealing::sealed_key(db, other).await.unwrap().is_none());
    let err = keys.open(other, &sealed).expect_err("not the other org's");
    assert!(matches!(err, SealingError::DoesNotOpen { .. }), "{err}");

    // Setting it again replaces it, under a fresh nonce.
    store(db, keys, org, API_KEY, ann).await;
    let again = sealing::sealed_key(db, org).await.unwrap().expect("a key");
    assert_ne!(again.nonce, sealed.nonce);
    assert_eq!(app.count("SELECT COUNT(*) FROM sleakops_keys").await, 1);

    let mut tx = db.begin().await.unwrap();
    assert!(sealing::delete_key(&mut tx, org).await.unwrap());
    assert!(!sealing::delete_key(&mut tx, org).await.unwrap());
    tx.commit().await.unwrap();
    assert!(sealing::sealed_key(db, org).await.unwrap().is_none());
}

#[tokio::test]
async fn the_table_never_holds_the_key_in_the_clear() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let (ann, org) = (account(&app).await, organization(db).await);
    store(db, &app.state.keys, org, API_KEY, ann).await;

    let row: MySqlRow = sqlx::query("SELECT * FROM sleakops_keys WHERE org_id = ?")
        .bind(org)
        .fetch_one(db)
        .await
        .unwrap();
    use sqlx::Row;
    let mut raw = Vec::new();
    for column in ["key_id", "nonce", "ciphertext", "last4"] {
        let bytes: Vec<u8> = row.try_get_unchecked(column).unwrap();
        raw.extend(bytes);
        raw.push(0);
    }
    // Only the last four characters are kept in the clear, to tell keys apart.
    for piece in API_KEY.as_bytes().windows(5) {
        assert!(
            !raw.windows(5).any(|w| w == piece),
            "{:?} is in the row",
            String::from_utf8_lossy(piece)
        );
    }
}

#[tokio::test]
async fn start_up_refuses_a_key_that_did_not_seal_the_database() {
    let app = TestApp::spawn_setting("FARO_ENCRYPTION_KEY", KEY_A).await;
    let db = &app.state.db;
    let (ann, org) = (account(&app).await, organization(db).await);
    store(db, &app.state.keys, org, API_KEY, ann).await;

    let err = build_beside(&app, &current(KEY_B))
        .await
        .expect_err("key B sealed nothing here");
    assert!(err.is_configuration(), "{err}");
    assert!(
        matches!(
            &err,
            StartupError::EncryptionKey(SealingError::UnknownKeysInUse { rows: 1, .. })
        ),
        "{err}"
    );
    let message = err.to_string();
    for says in [
        app.state.keys.current_id(),
        "FARO_ENCRYPTION_KEY_PREVIOUS",
        "faro-backend rekey",
    ] {
        assert!(message.contains(says), "{message}");
    }
    assert!(
        !message.contains(KEY_B) && !message.contains(KEY_A),
        "{message}"
    );

    build_beside(&app, &current(KEY_A))
        .await
        .expect("the key that sealed it starts");
}

#[tokio::test]
async fn start_up_refuses_a_key_whose_check_value_does_not_open() {
    let app = TestApp::spawn_setting("FARO_ENCRYPTION_KEY", KEY_A).await;
    // Key A's check value replaced by key B's: as if another key had A's id.
    let b = build_beside(&app, &current(KEY_B)).await.expect("starts");
    let b_id = b.state().keys.current_id().to_owned();
    sqlx::query(
        "UPDATE encryption_keys SET check_value = \
         (SELECT check_value FROM (SELECT check_value FROM encryption_keys WHERE key_id = ?) b) \
         WHERE key_id = ?",
    )
    .bind(&b_id)
    .bind(app.state.keys.current_id())
    .execute(&app.state.db)
    .await
    .unwrap();

    let err = build_beside(&app, &current(KEY_A))
        .await
        .expect_err("the check value does not open");
    assert!(
        matches!(
            &err,
            StartupError::EncryptionKey(SealingError::WrongKey {
                var: "FARO_ENCRYPTION_KEY",
                ..
            })
        ),
        "{err}"
    );
    assert!(err.is_configuration());
}

#[tokio::test]
async fn a_rotation_opens_old_keys_then_rekey_moves_them_all_under_the_new_one() {
    let app = TestApp::spawn_setting("FARO_ENCRYPTION_KEY", KEY_A).await;
    let db = &app.state.db;
    let ann = account(&app).await;
    let orgs = [organization(db).await, organization(db).await];
    for org in orgs {
        store(db, &app.state.keys, org, API_KEY, ann).await;
    }
    let a_id = app.state.keys.current_id().to_owned();
    let before = sealing::sealed_key(db, orgs[0]).await.unwrap().unwrap();

    // B current, A previous: what A sealed still opens.
    let rotated = [
        ("FARO_ENCRYPTION_KEY", KEY_B),
        ("FARO_ENCRYPTION_KEY_PREVIOUS", KEY_A),
    ];
    let during = build_beside(&app, &rotated).await.expect("starts");
    let keys = during.state().keys.clone();
    let b_id = keys.current_id().to_owned();
    assert_eq!(keys.previous_id(), Some(a_id.as_str()));
    for org in orgs {
        let sealed = sealing::sealed_key(db, org).await.unwrap().unwrap();
        assert_eq!(keys.open(org, &sealed).unwrap().expose(), API_KEY);
    }

    let report = sealing::rekey(db, &keys).await.expect("rekeys");
    assert_eq!((report.resealed, report.already_current), (2, 0));
    assert_eq!(
        report.to_string(),
        "re-encrypted 2 of 2 SleakOps keys; 0 already under the current key"
    );
    assert_eq!(key_ids(db).await, [b_id.clone(), b_id.clone()]);
    let after = sealing::sealed_key(db, orgs[0]).await.unwrap().unwrap();
    assert_ne!(after.nonce, before.nonce);

    // A can go: B alone starts and opens everything; A alone no longer does.
    let after_rotation = build_beside(&app, &current(KEY_B)).await.expect("starts");
    let keys_b = &after_rotation.state().keys;
    for org in orgs {
        let sealed = sealing::sealed_key(db, org).await.unwrap().unwrap();
        assert_eq!(keys_b.open(org, &sealed).unwrap().expose(), API_KEY);
    }
    build_beside(&app, &current(KEY_A))
        .await
        .expect_err("A sealed nothing any more");

    let again = sealing::rekey(db, keys_b).await.expect("rekeys");
    assert_eq!((again.resealed, again.already_current), (0, 2));
    assert_eq!(
        sealing::sealed_key(db, orgs[0]).await.unwrap().unwrap(),
        after,
        "nothing rewritten"
    );
}

#[tokio::test]
async fn rekey_without_the_key_that_sealed_a_row_changes_nothing() {
    let app = TestApp::spawn_setting("FARO_ENCRYPTION_KEY", KEY_A).await;
    let db = &app.state.db;
    let (ann, org) = (account(&app).await, organization(db).await);
    store(db, &app.state.keys, org, API_KEY, ann).await;
    let before = sealing::sealed_key(db, org).await.unwrap();

    let b = build_beside(&app, &current(KEY_B)).await;
    assert!(b.is_err(), "B alone does not start here");
    let keys_b = KeyRing::from_config(&faro_backend::config::EncryptionConfig {
        key: faro_resilience::Secret::new(KEY_B),
        previous: None,
    });
    let err = sealing::rekey(db, &keys_b).await.expect_err("A is missing");
    assert!(err.is_key_mismatch(), "{err}");
    assert_eq!(sealing::sealed_key(db, org).await.unwrap(), before);
}
