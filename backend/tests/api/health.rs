use crate::migrations::database_migrated_before;
use faro_backend::db::{self, MIGRATOR};
use faro_testkit::app::closed_port;
use faro_testkit::{TestApp, expect_json, problem};
use serde_json::{Value, json};
use std::time::Duration;

/// The JSON body of the app's answer to a GET of `path`, which must be 200.
async fn answer(app: &TestApp, path: &str) -> Value {
    expect_json(app.get(path).await, 200, path).await
}

#[tokio::test]
async fn healthz_answers_while_the_process_lives() {
    let app = TestApp::spawn().await;
    assert_eq!(answer(&app, "/healthz").await, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_200_when_mysql_and_dynamodb_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(answer(&app, "/readyz").await["status"], "ready");
}

/// A store the app must reach to be ready.
#[derive(Debug, Clone, Copy)]
enum Store {
    MySql,
    DynamoDb,
}

impl Store {
    /// How the app's readiness calls it.
    fn name(self) -> &'static str {
        match self {
            Store::MySql => "MySQL",
            Store::DynamoDb => "DynamoDB",
        }
    }

    /// The variables that point the app at a closed port for this store, and keep it from
    /// preparing the store at start-up.
    fn out_of_reach(self) -> Vec<(&'static str, String)> {
        let port = closed_port();
        match self {
            Store::MySql => vec![
                (
                    "DATABASE_URL",
                    format!("mysql://root@127.0.0.1:{port}/faro"),
                ),
                ("FARO_AUTO_MIGRATE", "false".to_owned()),
                ("FARO_DATABASE_ACQUIRE_TIMEOUT_MS", "300".to_owned()),
            ],
            Store::DynamoDb => vec![
                (
                    "AWS_ENDPOINT_URL_DYNAMODB",
                    format!("http://127.0.0.1:{port}"),
                ),
                ("FARO_CREATE_TABLE", "false".to_owned()),
            ],
        }
    }
}

/// Asserts that an app without `down` is not ready, says `down` and not `up` is why, asks to
/// be retried, and stays alive: liveness must not fail with a dependency.
async fn not_ready_without(down: Store, up: Store) {
    let app = down
        .out_of_reach()
        .into_iter()
        .fold(TestApp::builder(), |app, (var, value)| app.set(var, value))
        .spawn()
        .await;
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    let problem = problem(response, 503).await;
    assert_eq!(problem.type_uri, "/problems/service-unavailable");
    let detail = problem.detail.unwrap_or_default();
    assert!(
        detail.contains(down.name()) && !detail.contains(up.name()),
        "{detail}"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_is_503_when_mysql_is_down() {
    not_ready_without(Store::MySql, Store::DynamoDb).await;
}

#[tokio::test]
async fn readyz_is_503_when_dynamodb_is_down() {
    not_ready_without(Store::DynamoDb, Store::MySql).await;
}

#[tokio::test]
async fn readiness_is_cached_then_rechecked() {
    // A cache period no slow machine outlasts by accident: the test ends it by moving the
    // app's clock on.
    let app = TestApp::builder()
        .set("FARO_READINESS_CACHE_MS", "600000")
        .set("FARO_DATABASE_ACQUIRE_TIMEOUT_MS", "300")
        .spawn()
        .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    // Take MySQL away: probes within the cache period reuse the last verdict...
    app.state.db.close().await;
    for _ in 0..20 {
        assert_eq!(app.get("/readyz").await.status(), 200);
    }
    // ...and the next probe after it checks again.
    app.state.clock.advance(Duration::from_secs(600));
    problem(app.get("/readyz").await, 503).await;
}

/// An app on `url` that leaves the schema as it finds it, as deployed tasks do.
async fn app_on(url: &str) -> TestApp {
    TestApp::builder()
        .set("DATABASE_URL", url)
        .set("FARO_AUTO_MIGRATE", "false")
        .spawn()
        .await
}

#[tokio::test]
async fn readyz_is_503_until_the_schema_has_the_newest_migration_of_the_build() {
    let mut versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    let [.., previous, newest] = versions[..] else {
        panic!("the build embeds at least two migrations");
    };
    let (url, pool) = database_migrated_before(newest).await;
    let app = app_on(&url).await;

    let problem = problem(app.get("/readyz").await, 503).await;
    assert_eq!(
        problem.detail.as_deref(),
        Some(format!("schema at {previous}, binary needs {newest}").as_str())
    );

    db::migrate(&pool).await.expect("the newest migration");
    app.state.clock.advance(Duration::from_secs(600));
    assert_eq!(answer(&app, "/readyz").await["status"], "ready");

    // Once reached, the schema is not read again: a schema never goes back, and the probe
    // stays one `SELECT 1`.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
        .bind(newest)
        .execute(&pool)
        .await
        .expect("forget the newest migration");
    app.state.clock.advance(Duration::from_secs(600));
    assert_eq!(app.get("/readyz").await.status(), 200);
    pool.close().await;
}

#[tokio::test]
async fn readyz_is_200_on_a_schema_newer_than_the_build() {
    let (url, pool) = database_migrated_before(i64::MAX).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000001, 'added by a newer build', TRUE, x'00', 1)",
    )
    .execute(&pool)
    .await
    .expect("a migration this build does not know");
    pool.close().await;
    let app = app_on(&url).await;
    assert_eq!(answer(&app, "/readyz").await["status"], "ready");
}

#[tokio::test]
async fn version_reports_the_build() {
    let app = TestApp::spawn().await;
    let info: faro_types::VersionInfo =
        expect_json(app.get("/api/version").await, 200, "version").await;
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    // The app compares its own revision with these to offer a reload.
    assert_eq!(info.api_revision, faro_types::API_REVISION);
    assert_eq!(
        info.oldest_app_revision,
        faro_backend::version::OLDEST_APP_REVISION
    );
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(sha) => {
            assert_eq!(info.git_sha, sha);
            let time = info.commit_time.expect("a commit has a time");
            assert!(time.len() >= 20 && time.contains('T'), "{time}");
        }
        None => assert_eq!(info.git_sha, "unknown"),
    }
}
