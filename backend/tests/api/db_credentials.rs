//! Database credentials that survive a rotation: the backend reads its user and password from
//! Secrets Manager (moto here) and reads them again when MySQL refuses them; `migrate` keeps the
//! application user with row privileges only.

use aws_sdk_secretsmanager::Client as Secrets;
use faro_aws_standin::local::{Moto, required_var};
use faro_backend::{
    Config,
    db::{
        self,
        credentials::{Credentials, Renewed, SecretReader},
    },
    dynamo, prepare_stores,
};
use faro_testkit::{
    Api, Sibling, Signed, TestApp,
    app::{run_from_drop, services, test_vars, unique_name},
    problem,
};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, MySqlConnection, mysql::MySqlConnectOptions};
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

/// Requests sent at once while the password changes.
const WORKERS: u32 = 4;

/// moto's Secrets Manager, and a client of it.
struct SecretStore {
    moto: Moto,
    client: Secrets,
    sdk: aws_config::SdkConfig,
}

impl SecretStore {
    async fn start(app: &TestApp) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&services()));
        std::fs::create_dir_all(&dir).expect("moto's folder");
        let python = required_var("FARO_TEST_MOTO_PYTHON");
        let moto = Moto::start(python.as_ref(), &dir)
            .await
            .expect("moto starts");
        let sdk = dynamo::sdk_config(&app.state.config.dynamodb).await;
        let client = Secrets::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&sdk)
                .endpoint_url(&moto.url)
                .build(),
        );
        Self { moto, client, sdk }
    }

    /// A new secret with `user` and `password`, as the data stack writes them; its ARN.
    async fn create(&self, user: &str, password: &str) -> String {
        let out = self
            .client
            .create_secret()
            .name(format!("faro/test/{user}"))
            .secret_string(json!({"username": user, "password": password}).to_string())
            .send()
            .await
            .expect("CreateSecret");
        out.arn().expect("an ARN").to_owned()
    }

    /// A new version of secret `arn`, as the last step of a rotation makes it current.
    async fn put(&self, arn: &str, user: &str, password: &str) {
        self.client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(json!({"username": user, "password": password}).to_string())
            .send()
            .await
            .expect("PutSecretValue");
    }
}

/// A MariaDB connection as the test server's administrator.
async fn admin() -> MySqlConnection {
    MySqlConnection::connect(&services().mysql_server)
        .await
        .expect("the test MySQL server")
}

async fn sql(statement: &str) {
    sqlx::raw_sql(statement)
        .execute(&mut admin().await)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Database users of one test, dropped with it (they belong to the server, not a database).
struct Users(Vec<String>);

impl Users {
    /// A user name no other test uses.
    fn name(&mut self) -> String {
        let name = unique_name(&services());
        assert!(name.len() <= 32, "{name} is longer than MySQL allows");
        self.0.push(name.clone());
        name
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        run_from_drop(move || async move {
            let Ok(mut conn) = MySqlConnection::connect(&services().mysql_server).await else {
                return;
            };
            for name in names {
                let _ = sqlx::raw_sql(&format!("DROP USER IF EXISTS '{name}'@'%'"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// The database `app` works in.
async fn database_of(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&app.state.db)
        .await
        .expect("the app's database")
}

/// A user with row privileges on `database` and `password`, as `migrate` leaves it.
async fn create_app_user(users: &mut Users, database: &str, password: &str) -> String {
    let name = users.name();
    sql(&format!(
        "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{name}'@'%'"
    ))
    .await;
    name
}

/// Ends every session of `user`, so the pool must open new connections.
async fn kill_sessions_of(user: &str) -> usize {
    let mut conn = admin().await;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE user = ?",
    )
    .bind(user)
    .fetch_all(&mut conn)
    .await
    .expect("the process list");
    for id in &ids {
        let _ = sqlx::raw_sql(&format!("KILL {id}"))
            .execute(&mut conn)
            .await;
    }
    ids.len()
}

/// A second task of a test app that logs in as an application user of its own, through a
/// secret in moto (and never migrates: it may not), with an owner signed up through the app.
struct SecretBackend {
    store: SecretStore,
    user: String,
    arn: String,
    owner: Signed,
    backend: Sibling,
    api: Api,
    _users: Users,
}

impl SecretBackend {
    /// The user's password is `in_mysql` in MySQL and `in_secret` in its secret.
    async fn start(app: &TestApp, in_mysql: &str, in_secret: &str, owner: &str) -> Self {
        let store = SecretStore::start(app).await;
        let mut users = Users(Vec::new());
        let database = database_of(app).await;
        let user = create_app_user(&mut users, &database, in_mysql).await;
        let arn = store.create(&user, in_secret).await;
        let owner = app.signup(owner).await;
        let backend = TestApp::builder()
            .set("FARO_DATABASE_SECRET_ARN", &arn)
            .set("AWS_ENDPOINT_URL_SECRETS_MANAGER", &store.moto.url)
            .set("FARO_AUTO_MIGRATE", "false")
            .set("FARO_READINESS_CACHE_MS", "100")
            .spawn_beside(app)
            .await;
        let api = Api::new(backend.base.clone());
        Self {
            store,
            user,
            arn,
            owner,
            backend,
            api,
            _users: users,
        }
    }

    /// The user a connection of the backend's pool logs in as (a new one when the pool has none).
    async fn logged_in_as(&self) -> String {
        sqlx::query_scalar("SELECT SUBSTRING_INDEX(USER(), '@', 1)")
            .fetch_one(&self.backend.state.db)
            .await
            .expect("a connection of the backend's pool")
    }
}

/// Outcomes of requests, counted by status.
#[derive(Default)]
struct Tally {
    ok: AtomicU32,
    unavailable: AtomicU32,
    other: AtomicU32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_password_is_followed_without_a_restart_and_only_requests_at_the_switch_fail() {
    let app = TestApp::spawn().await;
    let secured = SecretBackend::start(&app, "first-Passw0rd", "first-Passw0rd", "Rotator").await;
    let SecretBackend {
        store,
        user,
        arn,
        owner,
        api,
        ..
    } = &secured;
    assert_eq!(
        &secured.logged_in_as().await,
        user,
        "the backend logs in as the secret's user"
    );

    // Requests without pause, from the start to the end of the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let before = Arc::new(Tally::default());
    let after = Arc::new(Tally::default());
    let switched = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (api, owner, stop) = (api.clone(), owner.clone(), stop.clone());
            let (before, after, switched) = (before.clone(), after.clone(), switched.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let tally = if switched.load(Ordering::SeqCst) {
                        &after
                    } else {
                        &before
                    };
                    let response = api.call(&owner, Method::GET, "/api/projects").await;
                    let counter = match response.status().as_u16() {
                        200 => &tally.ok,
                        503 => {
                            problem(response, 503).await;
                            &tally.unavailable
                        }
                        _ => &tally.other,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Past the wait after the start-up read, so the first refusal reads the secret at once.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The rotation: the password changes in MySQL, then in the secret; the connections the
    // pool holds end, so it must open new ones, with the password it does not have yet. The
    // switch starts with the ALTER: a connection opened after it needs the new password.
    switched.store(true, Ordering::SeqCst);
    sql(&format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY 'second-Passw0rd'"
    ))
    .await;
    store.put(arn, user, "second-Passw0rd").await;
    let killed = kill_sessions_of(user).await;
    assert!(killed > 0, "the backend held connections");
    let switch = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ok_at_3s = after.ok.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }

    let (ok, failed, other) = (
        after.ok.load(Ordering::SeqCst),
        after.unavailable.load(Ordering::SeqCst),
        after.other.load(Ordering::SeqCst),
    );
    assert_eq!(before.unavailable.load(Ordering::SeqCst), 0);
    assert_eq!(before.other.load(Ordering::SeqCst), 0);
    assert_eq!(other, 0, "every failure is a 503, never a 500");
    // What was in flight at the switch: each killed connection fails the one request that
    // finds it dead, and each worker at most one request that met the old password before the
    // new one was read (a refused answer waits for that read); nothing fails after.
    let bound = killed as u32 + WORKERS;
    assert!(
        failed <= bound,
        "{failed} requests failed after the switch ({killed} connections killed, {WORKERS} workers: at most {bound})"
    );
    assert!(
        ok > ok_at_3s && ok >= 20,
        "the backend kept answering: {ok} answers after the switch, {ok_at_3s} within 3 s of {:?}",
        switch.elapsed()
    );
    assert_eq!(
        &secured.logged_in_as().await,
        user,
        "a new connection opens without a restart"
    );
    let ready = api.get("/readyz").await;
    assert_eq!(ready.status(), 200, "ready again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_refuses_the_credentials_is_a_503_never_a_500() {
    let app = TestApp::spawn().await;
    let secured = SecretBackend::start(&app, "right-Passw0rd", "wrong-Passw0rd", "Refused").await;
    let SecretBackend {
        user, owner, api, ..
    } = &secured;

    let listed = api.call(owner, Method::GET, "/api/projects").await;
    assert!(listed.headers().contains_key("retry-after"));
    problem(listed, 503).await;
    let body =
        json!({"email": "refused@example.com", "password": "a long enough password", "name": "R"});
    let signed_up = api
        .send(None, Method::POST, "/api/auth/signup", Some(&body))
        .await;
    problem(signed_up, 503).await;
    let readyz = api.get("/readyz").await;
    assert!(readyz.headers().contains_key("retry-after"));
    let not_ready = problem(readyz, 503).await;
    let detail = not_ready.detail.unwrap_or_default();
    assert!(
        detail.contains("refuses the database credentials"),
        "{detail}"
    );
    assert!(
        !detail.contains("Passw0rd") && !detail.contains(user.as_str()),
        "{detail}"
    );
    assert_eq!(api.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_stays_wrong_is_read_again_less_and_less_often() {
    let app = TestApp::spawn().await;
    let store = SecretStore::start(&app).await;
    let arn = store.create("nobody", "wrong").await;
    let reader = SecretReader::new(&store.sdk, Some(&store.moto.url));
    let pool = db::pool(&app.state.config.database);
    let base = (*pool.connect_options()).clone();
    let credentials = Credentials::load(reader, arn, base, pool)
        .await
        .expect("loads");

    assert_eq!(
        credentials.renew().await.unwrap(),
        Renewed::Skipped,
        "1 s after a read"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(credentials.renew().await.unwrap(), Renewed::Unchanged);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        credentials.renew().await.unwrap(),
        Renewed::Skipped,
        "the wait doubled to 2 s"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(credentials.renew().await.unwrap(), Renewed::Unchanged);
}

/// The configuration of `migrate` in AWS: the administrator's secret, and the two users'.
fn migrate_config(app: &TestApp, store: &SecretStore, secrets: [&str; 3]) -> Config {
    let [admin, application, migrator] = secrets;
    let services = services();
    let database = app.state.config.database.url.database().unwrap_or_default();
    let mut vars: HashMap<String, String> = test_vars(&services, database);
    let database_url = format!("{}/{database}", services.mysql_server);
    for (k, v) in [
        ("DATABASE_URL", database_url.as_str()),
        ("FARO_CREATE_TABLE", "false"),
        ("FARO_DATABASE_SECRET_ARN", admin),
        ("FARO_DATABASE_APP_SECRET_ARN", application),
        ("FARO_DATABASE_MIGRATOR_SECRET_ARN", migrator),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &store.moto.url),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("migrate's configuration")
}

/// Whether `user` with `password` may run `statement` in `database`; MySQL's error otherwise.
async fn try_as(user: &str, password: &str, database: &str, statement: &str) -> Result<(), String> {
    let server: MySqlConnectOptions = services().mysql_server.parse().expect("server URL");
    let mut conn =
        MySqlConnection::connect_with(&server.username(user).password(password).database(database))
            .await
            .map_err(|e| e.to_string())?;
    sqlx::raw_sql(statement)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_keeps_an_application_user_that_may_change_rows_but_not_tables() {
    let app = TestApp::spawn().await;
    let store = SecretStore::start(&app).await;
    let mut users = Users(Vec::new());
    let database = database_of(&app).await;
    let (administrator, application, migrator) = (users.name(), users.name(), users.name());
    // As RDS's master user: every privilege, and the right to grant them.
    sql(&format!(
        "CREATE USER '{administrator}'@'%' IDENTIFIED BY 'admin-Passw0rd'; \
         GRANT ALL PRIVILEGES ON *.* TO '{administrator}'@'%' WITH GRANT OPTION"
    ))
    .await;
    let admin_arn = store.create(&administrator, "admin-Passw0rd").await;
    let app_arn = store.create(&application, "app-Passw0rd").await;
    let migrator_arn = store.create(&migrator, "migrator-Passw0rd").await;
    let config = migrate_config(&app, &store, [&admin_arn, &app_arn, &migrator_arn]);

    prepare_stores(&config).await.expect("migrate");
    // Again, as every deploy does: nothing to create, nothing fails.
    prepare_stores(&config).await.expect("migrate again");

    let rows = [
        "SELECT COUNT(*) FROM users",
        "DELETE FROM users WHERE id = 0",
    ];
    for statement in rows {
        try_as(&application, "app-Passw0rd", &database, statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for statement in [
        "CREATE TABLE intruder (id INT)",
        "ALTER TABLE users ADD COLUMN intruder INT",
        "DROP TABLE users",
        "GRANT SELECT ON *.* TO CURRENT_USER()",
    ] {
        let err = try_as(&application, "app-Passw0rd", &database, statement)
            .await
            .expect_err(statement);
        assert!(err.contains("denied"), "{statement}: {err}");
    }
    try_as(
        &migrator,
        "migrator-Passw0rd",
        &database,
        "CREATE TABLE allowed (id INT); DROP TABLE allowed",
    )
    .await
    .expect("the migration user changes tables");
    let other = format!("{database}_other");
    let err = try_as(
        &migrator,
        "migrator-Passw0rd",
        &database,
        &format!("CREATE DATABASE `{other}`"),
    )
    .await
    .expect_err("nothing beyond its database");
    assert!(err.contains("denied"), "{err}");

    // A password that drifted from the secret (a restored snapshot) is set again.
    sql(&format!(
        "ALTER USER '{application}'@'%' IDENTIFIED BY 'drifted'"
    ))
    .await;
    prepare_stores(&config)
        .await
        .expect("migrate after the drift");
    try_as(&application, "app-Passw0rd", &database, "SELECT 1")
        .await
        .expect("the secret's password works again");
}
