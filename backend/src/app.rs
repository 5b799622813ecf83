//! Assembling the service: shared state, the router, and serving with graceful shutdown.

use crate::{
    config::Config,
    db::{self, DbError},
    dynamo::{self, DynamoError},
    health::Readiness,
    http, routes,
};
use axum::{Router, serve::ListenerExt};
use sqlx::MySqlPool;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch};

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: MySqlPool,
    /// Where `db` gets its user and password when they come from a secret.
    pub db_credentials: Option<Arc<db::credentials::Credentials>>,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub table: Arc<str>,
    /// Timeline events and audit entries, grouped into batch writes.
    pub writes: dynamo::writer::Writer,
    pub readiness: Arc<Readiness>,
    /// Wakes this task's timeline pollers when a timeline event is committed here.
    pub release_events: crate::releases::timeline::Hub,
    /// The DeepSeek and SleakOps clients (when configured).
    pub external: Arc<crate::external::External>,
    /// This task's release worker, for `/api/status`.
    pub worker: Arc<crate::worker::WorkerState>,
    /// This task's bound on concurrent AI calls.
    /// AI calls in flight, per user and in all.
    pub ai: Arc<crate::slots::Slots>,
    /// Counters behind the CloudWatch metrics.
    pub metrics: Arc<crate::worker::metrics::Counters>,
    /// The key-encryption keys that seal and open organizations' SleakOps keys.
    pub keys: Arc<crate::sealing::KeyRing>,
    /// Sessions this task verified recently.
    pub sessions: Arc<crate::auth::cache::SessionCache>,
    /// This task's bound on password hashing (Argon2id, 19 MiB a hash).
    pub passwords: Arc<crate::auth::password::Hasher>,
    /// This task's delayed sign-ins to accounts past their threshold of attempts.
    pub sign_in_delays: Arc<crate::auth::throttle::Throttle>,
    /// What the caches and rate-limit windows read the time from (tests move it on).
    pub clock: crate::clock::Clock,
    /// This task's bound on requests in flight (load shedding).
    pub in_flight: http::InFlight,
    /// One poller per release followed live on this task, shared by its streams.
    pub timeline_feeds: Arc<crate::releases::feeds::Feeds>,
    /// This task's bounds on live timelines, per user and in all.
    pub timeline_slots: Arc<crate::slots::Slots>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error(transparent)]
    Client(#[from] crate::external::ClientError),
    /// `FARO_ENCRYPTION_KEY` (or `_PREVIOUS`) does not fit the database: a configuration
    /// error, which `main` reports as such.
    #[error(transparent)]
    EncryptionKey(crate::sealing::SealingError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl StartupError {
    /// Whether an operator must fix the configuration (rather than wait for a dependency).
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::EncryptionKey(_))
    }
}

/// Connects the stores a fresh environment needs: creates the database and applies
/// migrations, and creates the DynamoDB table when the configuration asks for it. This is
/// the `migrate` subcommand, and start-up does the same in dev and test.
pub async fn prepare_stores(config: &Config) -> Result<(), StartupError> {
    // A database whose users come from secrets is RDS's: the data stack creates it.
    if config.database.secret_arn.is_none() {
        db::create_database_if_missing(&config.database).await?;
    }
    let sdk = dynamo::sdk_config(&config.dynamodb).await;
    let (pool, _credentials) = db::connect(&config.database, &sdk).await?;
    let migrated = match &config.database.users {
        Some(users) => db::migrate_as_migrator(&pool, &config.database, users, &sdk).await,
        None => db::migrate(&pool).await,
    };
    pool.close().await;
    migrated?;
    if config.create_table {
        let client = dynamo::client_with(&sdk, &config.dynamodb);
        dynamo::ensure_table(&client, &config.dynamodb.table).await?;
    }
    Ok(())
}

/// The encryption key check of start-up ([`crate::sealing::check_keys`]), after migrations. A
/// database that does not answer yet must not crash-loop the task (the pool connects lazily
/// for that reason), so the check then waits for it in the background, and a key found wrong
/// later keeps the task from ever being ready: its replacement then fails at start-up.
async fn check_encryption_keys(
    db: &MySqlPool,
    keys: &Arc<crate::sealing::KeyRing>,
    readiness: &Arc<Readiness>,
) -> Result<(), StartupError> {
    use crate::sealing::{SealingError, check_keys};
    const RETRY: Duration = Duration::from_secs(5);
    match check_keys(db, keys).await {
        Ok(()) => Ok(()),
        Err(SealingError::Database(err)) if db::is_unreachable(&err) => {
            tracing::warn!(error = %err, "MySQL does not answer: the encryption key check waits for it");
            let (db, keys, readiness) = (db.clone(), keys.clone(), readiness.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RETRY).await;
                    match check_keys(&db, &keys).await {
                        Err(SealingError::Database(err)) if db::is_unreachable(&err) => {}
                        Ok(()) => break,
                        Err(err) => {
                            tracing::error!(error = %err, "the encryption key check failed");
                            readiness.refuse(err.to_string());
                            break;
                        }
                    }
                }
            });
            Ok(())
        }
        Err(err) if err.is_key_mismatch() => Err(StartupError::EncryptionKey(err)),
        Err(SealingError::Database(err)) => Err(DbError::Query(err).into()),
        Err(err) => Err(StartupError::EncryptionKey(err)),
    }
}

/// A bound, not yet serving, instance of the service.
#[derive(Debug)]
pub struct App {
    state: AppState,
    listener: TcpListener,
    routes: Router<AppState>,
}

impl App {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        if config.auto_migrate {
            db::create_database_if_missing(&config.database).await?;
        }
        let sdk = dynamo::sdk_config(&config.dynamodb).await;
        let (pool, db_credentials) = db::connect(&config.database, &sdk).await?;
        if config.auto_migrate {
            db::migrate(&pool).await?;
        }
        let clock = crate::clock::Clock::default();
        let readiness = Arc::new(Readiness::new(
            config.readiness.cache_ttl,
            config.readiness.check_timeout,
            clock.clone(),
        ));
        let keys = Arc::new(crate::sealing::KeyRing::from_config(&config.encryption));
        check_encryption_keys(&pool, &keys, &readiness).await?;
        let dynamo = dynamo::client_with(&sdk, &config.dynamodb);
        if config.create_table {
            dynamo::ensure_table(&dynamo, &config.dynamodb.table).await?;
        }
        let external = crate::external::External::new(&config)?;
        let mut routes = routes::router(&config).0;
        if let Some(dir) = &config.frontend_dir {
            let timeout = http::timeout(config.http.request_timeout);
            routes = routes.merge(crate::frontend_assets::routes(dir).layer(timeout));
        }
        let addr = SocketAddr::new(config.http.host, config.http.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let table: Arc<str> = config.dynamodb.table.as_str().into();
        let state = AppState {
            writes: dynamo::writer::Writer::start(dynamo.clone(), table.clone()),
            table,
            readiness,
            external: Arc::new(external),
            worker: Arc::new(crate::worker::WorkerState::new(config.worker.enabled)),
            // A call ends within seconds.
            ai: Arc::new(crate::slots::Slots::new(
                "The AI assistant",
                config.ai.concurrent_per_user as usize,
                config.ai.max_concurrent as usize,
                Duration::from_secs(2),
            )),
            metrics: Arc::default(),
            keys,
            sessions: Arc::new(crate::auth::cache::SessionCache::new(
                config.auth.session_cache,
                clock.clone(),
            )),
            passwords: Arc::new(crate::auth::password::Hasher::from_config(&config.auth)),
            sign_in_delays: Arc::new(crate::auth::throttle::Throttle::from_config(&config.auth)),
            clock,
            in_flight: http::InFlight::new(config.http.max_in_flight),
            timeline_feeds: Arc::default(),
            // Another stream must close first, which a page does when the user leaves it.
            timeline_slots: Arc::new(crate::slots::Slots::new(
                "Live timelines",
                config.events_streams_per_user,
                config.events_streams_per_task,
                Duration::from_secs(5),
            )),
            config: Arc::new(config),
            db: pool,
            db_credentials,
            dynamo,
            release_events: crate::releases::timeline::Hub::new(),
        };
        Ok(Self {
            state,
            listener,
            routes,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Adds routes beside the API's own; they get the same middleware and the global
    /// request timeout.
    pub fn merge(mut self, routes: Router<AppState>) -> Self {
        let timeout = http::timeout(self.state.config.http.request_timeout);
        self.routes = self.routes.merge(routes.layer(timeout));
        self
    }

    /// Serves (and runs the release worker) until `shutdown` resolves, then: `/readyz`
    /// answers 503 and the worker stops claiming at once, lets triggers in flight finish,
    /// hands its claimed releases back within drain + grace, and stops; requests are still served for the drain period
    /// (the load balancer deregisters us meanwhile); then the listener closes and in-flight
    /// requests get at most the grace period to finish. `run` returns once both stopped.
    /// Dropping the future instead (a dying process) stops the worker without handing its
    /// releases back: their leases lapse and another task resumes them.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            state,
            listener,
            routes,
        } = self;
        let shutdown_config = state.config.shutdown.clone();
        let routes = match &state.db_credentials {
            Some(credentials) => routes.layer(axum::middleware::from_fn_with_state(
                credentials.clone(),
                db::credentials::renew_on_refusal,
            )),
            None => routes,
        };
        let router =
            http::layered(routes, &state.config.http, &state.in_flight).with_state(state.clone());

        let (stop_tx, stop_rx) = watch::channel(false);
        let (stopping_tx, stopping_rx) = watch::channel(false);
        let readiness = state.readiness.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
            readiness.start_draining();
            tracing::info!(
                drain_secs = shutdown_config.drain.as_secs(),
                "shutdown requested; draining"
            );
            tokio::time::sleep(shutdown_config.drain).await;
            tracing::info!("no longer accepting connections");
            // The receivers outlive this task, so the send cannot fail.
            let _ = stop_tx.send(true);
        });
        let stopped = {
            let mut rx = stop_rx.clone();
            async move {
                // Err means the sender is gone: stop as well.
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let grace_expired = {
            let mut rx = stop_rx;
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
                tokio::time::sleep(shutdown_config.grace).await;
            }
        };

        let listener = listener.tap_io(|tcp| {
            // Small JSON answers on keep-alive connections must not wait for Nagle.
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped);
        let serving = async {
            tokio::select! {
                result = server => result,
                () = grace_expired => {
                    tracing::warn!("in-flight requests outlived the shutdown grace period; stopping anyway");
                    Ok(())
                }
            }
        };
        let worker = crate::worker::run(state.clone(), stopping_rx.clone());
        let migrated = crate::audit::deliver_migrated(state.clone(), stopping_rx.clone());
        let metrics = crate::worker::metrics::run(state.clone(), stopping_rx);
        let (result, (), (), ()) = tokio::join!(serving, worker, migrated, metrics);
        state.db.close().await;
        tracing::info!("stopped");
        result
    }
}
