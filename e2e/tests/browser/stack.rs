//! The real backend, in process on port 0, with the simulators, serving a copy of the built
//! frontend: one origin, as `cargo xtask dev` serves it.

use faro_backend::{App, Config};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ is inside the workspace")
        .to_path_buf()
}

/// `frontend/dist` (or `$FARO_E2E_DIST`), which must hold a build.
fn built_frontend() -> PathBuf {
    let dist = std::env::var_os("FARO_E2E_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("frontend/dist"));
    assert!(
        dist.join("index.html").is_file(),
        "{} holds no built frontend: run `cargo xtask frontend build --release` first \
         (`cargo xtask test` does it for you)",
        dist.display()
    );
    dist
}

/// A private copy of the build with this test's `config.json`, so parallel tests and a
/// running `cargo xtask dev` never share one.
fn frontend_copy(name: &str) -> PathBuf {
    let from = built_frontend();
    let to = std::env::temp_dir().join(format!("faro-e2e-{name}"));
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(&from, &to);
    std::fs::write(
        to.join("config.json"),
        r#"{"api_base_url": "", "environment": "e2e"}"#,
    )
    .expect("write config.json");
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the build").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file of the build");
        }
    }
}

/// The backend and its simulators, stopped and cleaned up on drop.
pub struct Stack {
    pub base: String,
    _sleakops: faro_sim::Running,
    _deepseek: faro_sim::Running,
    shutdown: Option<oneshot::Sender<()>>,
    database_url: String,
    dynamo: faro_backend::config::DynamoConfig,
    frontend: PathBuf,
}

impl Stack {
    pub async fn start() -> Self {
        let dynamodb = std::env::var("FARO_TEST_DYNAMODB_URL").unwrap_or_else(|_| {
            panic!(
                "FARO_TEST_DYNAMODB_URL is not set: run the tests with `cargo xtask test`, \
                 which starts DynamoDB Local and MariaDB and sets it"
            )
        });
        let mysql = std::env::var("FARO_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
        let prefix =
            std::env::var("FARO_TEST_DB_PREFIX").unwrap_or_else(|_| "faro_t_adhoc_".into());
        let name = format!(
            "{prefix}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let frontend = frontend_copy(&name);

        let deepseek = faro_sim::deepseek::start(faro_sim::deepseek::Options {
            // Slow enough that an answer visibly streams, quick enough for a test.
            token_delay: Duration::from_millis(15),
            ..Default::default()
        })
        .await
        .expect("DeepSeek simulator starts");
        let sleakops = faro_sim::sleakops::start(faro_sim::sleakops::Options {
            step: Duration::from_millis(400),
            ..Default::default()
        })
        .await
        .expect("SleakOps simulator starts");

        let vars: HashMap<&str, String> = [
            ("FARO_ENV", "test".to_owned()),
            ("FARO_HOST", "127.0.0.1".into()),
            ("FARO_PORT", "0".into()),
            (
                "DATABASE_URL",
                format!("{}/{name}", mysql.trim_end_matches('/')),
            ),
            ("FARO_DYNAMODB_TABLE", name.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("AWS_REGION", "us-east-1".into()),
            ("FARO_LOG_FORMAT", "json".into()),
            ("FARO_FRONTEND_DIR", frontend.to_string_lossy().into_owned()),
            ("FARO_DEEPSEEK_BASE_URL", deepseek.base_url.clone()),
            (
                "FARO_DEEPSEEK_API_KEY",
                faro_sim::deepseek::DEFAULT_KEY.into(),
            ),
            ("FARO_SLEAKOPS_BASE_URL", sleakops.base_url.clone()),
            (
                "FARO_SLEAKOPS_API_KEY",
                faro_sim::sleakops::DEFAULT_KEY.into(),
            ),
            ("FARO_WORKER_POLL_MS", "100".into()),
            ("FARO_WORKER_STATUS_POLL_MS", "100".into()),
            ("FARO_WORKER_STATUS_POLL_MAX_MS", "300".into()),
            ("FARO_EVENTS_POLL_MS", "200".into()),
            // Every test signs in a few times from 127.0.0.1.
            ("FARO_LOGIN_ATTEMPTS_PER_ADDRESS", "1000".into()),
            ("FARO_AI_REQUESTS_PER_MINUTE", "100".into()),
        ]
        .into_iter()
        .collect();
        let config = Config::from_lookup(|k| vars.get(k).cloned())
            .expect("the end-to-end configuration is valid");
        let database_url = config.database.url.expose().to_owned();
        let dynamo = config.dynamodb.clone();
        let app = App::build(config).await.expect("the backend starts");
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            _sleakops: sleakops,
            _deepseek: deepseek,
            shutdown: Some(tx),
            database_url,
            dynamo,
            frontend,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.frontend);
        let url = self.database_url.clone();
        let dynamo = self.dynamo.clone();
        // Drop cannot await: a short-lived runtime on its own thread drops the test's data.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::migrate::MigrateDatabase;
                let _ = sqlx::MySql::drop_database(&url).await;
                let client = faro_backend::dynamo::client(&dynamo).await;
                let _ = client.delete_table().table_name(&dynamo.table).send().await;
            });
        })
        .join();
    }
}
