//! Starting the app for a test and cleaning up after it.

use axum::Router;
use faro_backend::{App, AppState, Config};
use std::{collections::HashMap, time::Duration};
use tokio::{sync::oneshot, task::JoinHandle};

/// Where the test services are, as `cargo xtask test` passes them.
pub struct Services {
    pub mysql_server: String,
    pub db_prefix: String,
    pub dynamodb: String,
}

pub fn services() -> Services {
    let dynamodb = std::env::var("FARO_TEST_DYNAMODB_URL").unwrap_or_else(|_| {
        panic!(
            "FARO_TEST_DYNAMODB_URL is not set: run the tests with `cargo xtask test`, \
             which starts DynamoDB Local and MariaDB and sets it"
        )
    });
    Services {
        mysql_server: std::env::var("FARO_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
            .trim_end_matches('/')
            .to_owned(),
        db_prefix: std::env::var("FARO_TEST_DB_PREFIX").unwrap_or_else(|_| "faro_t_adhoc_".into()),
        dynamodb,
    }
}

/// A database and table name no other test uses.
pub fn unique_name(services: &Services) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", services.db_prefix, &id[..12])
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The environment a test app starts with; tests adjust it before spawning.
pub fn test_vars(services: &Services, name: &str) -> HashMap<String, String> {
    [
        ("FARO_ENV", "test".to_owned()),
        ("FARO_HOST", "127.0.0.1".to_owned()),
        ("FARO_PORT", "0".to_owned()),
        ("DATABASE_URL", format!("{}/{name}", services.mysql_server)),
        ("FARO_DYNAMODB_TABLE", name.to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", services.dynamodb.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("FARO_LOG_FORMAT", "json".to_owned()),
        ("FARO_READINESS_TIMEOUT_MS", "1000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The password every test user signs up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub user: faro_types::User,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    cleanup: Cleanup,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}, Router::new()).await
    }

    /// Starts the app with adjusted variables and extra routes of the test's own.
    /// The app with one variable set (a test's one deviation from the defaults).
    pub async fn spawn_setting(var: &str, value: &str) -> Self {
        Self::spawn_with(
            |vars| {
                vars.insert(var.to_owned(), value.to_owned());
            },
            Router::new(),
        )
        .await
    }

    pub async fn spawn_with(
        adjust: impl FnOnce(&mut HashMap<String, String>),
        routes: Router<AppState>,
    ) -> Self {
        let services = services();
        let name = unique_name(&services);
        let mut vars = test_vars(&services, &name);
        adjust(&mut vars);
        let config =
            Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
        let cleanup = Cleanup {
            database_url: config.database.url.expose().to_owned(),
            dynamo: config.dynamodb.clone(),
        };
        let app = App::build(config).await.expect("app starts").merge(routes);
        let addr = app.local_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            state,
            shutdown: Some(tx),
            server: Some(server),
            cleanup,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request is answered")
    }

    /// Signs up a new user (a unique email per call) and returns its bearer token.
    pub async fn signup(&self, name: &str) -> Signed {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let response = self
            .client
            .post(self.url("/api/auth/signup"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD, "name": name}))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 201, "signup of {email}");
        let session: faro_types::Session = response.json().await.expect("a session");
        Signed {
            token: session.token,
            user: session.user,
        }
    }

    /// A request carrying `who`'s bearer token.
    pub fn as_user(
        &self,
        who: &Signed,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&who.token)
    }

    /// Sends the stop signal, as SIGTERM would; returns the server task to await.
    pub fn begin_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("the server runs")
    }
}

/// Drops the test's database and table even when the test panics.
struct Cleanup {
    database_url: String,
    dynamo: faro_backend::config::DynamoConfig,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let url = self.cleanup.database_url.clone();
        let dynamo = self.cleanup.dynamo.clone();
        // Drop cannot await; a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::migrate::MigrateDatabase;
                let _ = sqlx::MySql::drop_database(&url).await;
                if dynamo.endpoint.is_some() {
                    let client = faro_backend::dynamo::client(&dynamo).await;
                    let _ = client.delete_table().table_name(&dynamo.table).send().await;
                }
            });
        })
        .join();
    }
}

/// Asserts a problem+json answer and returns it.
pub async fn problem(response: reqwest::Response, status: u16) -> faro_types::Problem {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let problem: faro_types::Problem = response.json().await.expect("a problem document");
    assert_eq!(problem.status, status);
    assert!(!problem.title.is_empty());
    assert_eq!(
        problem.request_id, request_id,
        "the problem quotes the request id"
    );
    problem
}

/// A second instance of the app on the database and DynamoDB table of another, as a second
/// backend task behind the load balancer would be. The app it shares with cleans up.
pub struct Sibling {
    pub base: String,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Starts a [`Sibling`] of this app with adjusted variables.
    pub async fn spawn_sibling(
        &self,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> Sibling {
        let services = services();
        let table = self.state.config.dynamodb.table.clone();
        let mut vars = test_vars(&services, &table);
        vars.insert(
            "DATABASE_URL".into(),
            self.state.config.database.url.expose().to_owned(),
        );
        adjust(&mut vars);
        let config =
            Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
        let app = App::build(config).await.expect("sibling starts");
        let addr = app.local_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Sibling {
            base: format!("http://{addr}"),
            state,
            shutdown: Some(tx),
        }
    }
}

impl Sibling {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Sibling {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// In-process simulators of DeepSeek and SleakOps for one test.
pub struct Sims {
    pub deepseek: faro_sim::Running,
    pub sleakops: faro_sim::Running,
}

impl Sims {
    /// Both simulators; SleakOps builds and deployments spend `step` in each state.
    pub async fn start(step: Duration) -> Self {
        Self {
            deepseek: faro_sim::deepseek::start(faro_sim::deepseek::Options::default())
                .await
                .expect("DeepSeek simulator starts"),
            sleakops: faro_sim::sleakops::start(faro_sim::sleakops::Options {
                step,
                ..Default::default()
            })
            .await
            .expect("SleakOps simulator starts"),
        }
    }

    /// Points an app at these simulators, with a worker paced for tests.
    pub fn configure(&self, vars: &mut HashMap<String, String>) {
        for (key, value) in [
            ("FARO_DEEPSEEK_BASE_URL", self.deepseek.base_url.as_str()),
            ("FARO_DEEPSEEK_API_KEY", faro_sim::deepseek::DEFAULT_KEY),
            ("FARO_SLEAKOPS_BASE_URL", self.sleakops.base_url.as_str()),
            ("FARO_SLEAKOPS_API_KEY", faro_sim::sleakops::DEFAULT_KEY),
            ("FARO_SLEAKOPS_TIMEOUT_MS", "3000"),
            ("FARO_SLEAKOPS_BREAKER_COOL_DOWN_MS", "300"),
            ("FARO_DEEPSEEK_TIMEOUT_MS", "5000"),
            ("FARO_WORKER_POLL_MS", "50"),
            ("FARO_WORKER_LEASE_MS", "1500"),
            ("FARO_WORKER_RETRY_BASE_MS", "100"),
            ("FARO_WORKER_RETRY_MAX_MS", "400"),
            ("FARO_WORKER_STATUS_POLL_MS", "30"),
            ("FARO_WORKER_STATUS_POLL_MAX_MS", "100"),
            ("FARO_WORKER_MAX_ATTEMPTS", "100"),
        ] {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
}

impl TestApp {
    /// Starts simulators (SleakOps paced by `step`) and the app pointed at them, with the
    /// test's adjustments applied last.
    pub async fn spawn_with_sims(
        step: Duration,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> (Self, Sims) {
        let sims = Sims::start(step).await;
        let app = Self::spawn_with(
            |vars| {
                sims.configure(vars);
                adjust(vars);
            },
            Router::new(),
        )
        .await;
        (app, sims)
    }

    /// Stops the app the way a crash would: no draining, no handing back of claimed work.
    /// The database and table stay until the app is dropped.
    pub async fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }
}
