//! The backend in process on 127.0.0.1:0 against the test services: [`TestApp`], started by a
//! [`Builder`] with the test's own variables, routes, simulators and frontend.

mod cleanup;
pub mod frontend;
pub mod services;
mod sims;

pub use services::{
    Services, TEST_ENCRYPTION_KEY, Vars, closed_port, services, test_vars, unique_name,
};
pub use sims::Sims;

use axum::Router;
use cleanup::Cleanup;
pub use cleanup::run_from_drop;
use faro_backend::{App, AppState, Config};
use faro_fixtures::Api;
use std::{ops::Deref, path::Path};
use tokio::{sync::oneshot, task::JoinHandle};

type Server = JoinHandle<std::io::Result<()>>;

/// A running app with its own database and DynamoDB table, both dropped with it. It is an
/// [`Api`] (fixtures included) at its address.
#[derive(Debug)]
pub struct TestApp {
    api: Api,
    pub state: AppState,
    /// The SleakOps simulator of an app started without [`Builder::sims`]: organizations'
    /// keys are verified against it, and its release worker is off.
    pub sleakops: Option<faro_sim::Running>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<Server>,
    cleanup: Cleanup,
}

/// A second instance of the app on the database and table of another, as a second backend
/// task behind the load balancer would be. The app it shares them with cleans up.
#[derive(Debug)]
pub struct Sibling {
    pub base: String,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

/// How a test's app differs from the default one.
#[must_use]
#[derive(Debug)]
pub struct Builder {
    vars: Vec<(String, String)>,
    routes: Router<AppState>,
    frontend: Option<std::path::PathBuf>,
    /// Whether the test wired simulators of its own ([`Builder::sims`]).
    wired: bool,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder {
            vars: Vec::new(),
            routes: Router::new(),
            frontend: None,
            wired: false,
        }
    }

    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// The app with one variable set (a test's one deviation from the defaults).
    pub async fn spawn_setting(var: &str, value: &str) -> Self {
        Self::builder().set(var, value).spawn().await
    }

    /// Sends the stop signal, as SIGTERM would; returns the server task to await.
    pub fn begin_shutdown(&mut self) -> Server {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("the server runs")
    }

    /// The number `sql` (a `SELECT COUNT(*) …`) reads from the app's database.
    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(&self.state.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
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

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stopped before `cleanup` drops the database under it.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Builder {
    /// Sets variable `var` (the latest setting of a variable wins).
    pub fn set(mut self, var: &str, value: impl Into<String>) -> Self {
        self.vars.push((var.to_owned(), value.into()));
        self
    }

    /// Serves the test's own `routes` beside the app's.
    pub fn routes(mut self, routes: Router<AppState>) -> Self {
        self.routes = routes;
        self
    }

    /// Points the app at `sims` with a worker paced for tests ([`Sims::configure`]).
    pub fn sims(mut self, sims: &Sims) -> Self {
        self.wired = true;
        self.with_vars(|vars| sims.configure(vars))
    }

    /// Points the app at `sims`, the worker at its own pace ([`Sims::wire`]).
    pub fn sims_unpaced(mut self, sims: &Sims) -> Self {
        self.wired = true;
        self.with_vars(|vars| sims.wire(vars))
    }

    /// Reaches DynamoDB Local through `proxy`, which the test can cut and restore.
    pub fn dynamodb_through(self, proxy: &crate::CutProxy) -> Self {
        self.set("AWS_ENDPOINT_URL_DYNAMODB", proxy.url())
    }

    /// Serves a private copy of the built frontend in `dist`, as `cargo xtask dev` does.
    pub fn frontend(mut self, dist: &Path) -> Self {
        self.frontend = Some(dist.to_path_buf());
        self
    }

    fn with_vars(mut self, write: impl FnOnce(&mut Vars)) -> Self {
        let mut vars = Vars::new();
        write(&mut vars);
        self.vars.extend(vars);
        self
    }

    fn config(self, mut vars: Vars) -> (Config, Router<AppState>) {
        vars.extend(self.vars);
        let config =
            Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
        (config, self.routes)
    }

    pub async fn spawn(mut self) -> TestApp {
        let services = services();
        let name = unique_name(&services);
        let frontend = self.frontend.take().map(|dist| {
            let copy = frontend::private_copy(&dist, &name);
            let dir = copy.to_string_lossy().into_owned();
            self.vars.push(("FARO_FRONTEND_DIR".into(), dir));
            copy
        });
        let mut vars = test_vars(&services, &name);
        // Without simulators of its own, an app still verifies organizations' SleakOps keys
        // (against a simulator of its own) so releases can be asked for; they stay queued,
        // as its worker is off.
        let sleakops = if self.wired {
            None
        } else {
            let sim = faro_sim::sleakops::start(faro_sim::sleakops::Options {
                projects: Some(sims::catalogue()),
                ..Default::default()
            })
            .await
            .expect("SleakOps simulator starts");
            vars.insert("FARO_SLEAKOPS_BASE_URL".into(), sim.base_url.clone());
            vars.insert("FARO_WORKER_ENABLED".into(), "false".into());
            Some(sim)
        };
        let (config, routes) = self.config(vars);
        let cleanup = Cleanup::of(&config, frontend);
        let (base, state, shutdown, server) = start(config, routes).await;
        let api = Api::new(base).with_sleakops_key(faro_sim::sleakops::DEFAULT_KEY);
        TestApp {
            api,
            sleakops,
            state,
            shutdown: Some(shutdown),
            server: Some(server),
            cleanup,
        }
    }

    /// Starts a [`Sibling`] of `app`, on its database and table.
    pub async fn spawn_beside(self, app: &TestApp) -> Sibling {
        let services = services();
        let mut vars = test_vars(&services, app.cleanup.table());
        vars.insert("DATABASE_URL".into(), app.cleanup.database_url().to_owned());
        if let (false, Some(sim)) = (self.wired, &app.sleakops) {
            vars.insert("FARO_SLEAKOPS_BASE_URL".into(), sim.base_url.clone());
            vars.insert("FARO_WORKER_ENABLED".into(), "false".into());
        }
        let (config, routes) = self.config(vars);
        let (base, state, shutdown, _) = start(config, routes).await;
        Sibling {
            base,
            state,
            shutdown: Some(shutdown),
        }
    }
}

/// Builds and runs the app; its base URL, state, stop signal and server task.
async fn start(
    config: Config,
    routes: Router<AppState>,
) -> (String, AppState, oneshot::Sender<()>, Server) {
    let app = App::build(config).await.expect("app starts").merge(routes);
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    (base, state, tx, server)
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
