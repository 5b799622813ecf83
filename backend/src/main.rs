use faro_backend::{
    App, Config, db, dynamo, prepare_stores, sealing, shutdown, telemetry, version,
};
use std::process::ExitCode;

const USAGE: &str =
    "usage: faro-backend [serve | migrate | rekey | healthcheck | --version | --help]
  serve     serve the HTTP API (the default)
  healthcheck  exit 0 when GET /healthz on this container's FARO_PORT answers 200
  migrate   create the database if missing, keep the application and migration users
            when FARO_DATABASE_APP_SECRET_ARN and FARO_DATABASE_MIGRATOR_SECRET_ARN are set,
            apply migrations, create the DynamoDB table when FARO_CREATE_TABLE=true, and exit
  rekey     re-seal every organization's SleakOps key under FARO_ENCRYPTION_KEY (opening
            those sealed under FARO_ENCRYPTION_KEY_PREVIOUS), print the counts, and exit
configuration comes from environment variables; see README.md";

/// sysexits' EX_CONFIG and EX_USAGE, so a supervisor can tell bad configuration from a crash.
const EXIT_CONFIG: u8 = 78;
const EXIT_USAGE: u8 = 64;

enum Command {
    Serve,
    Migrate,
    Rekey,
}

/// Why the process stops, and whether the configuration is to blame (exit 78).
struct Failure {
    message: String,
    configuration: bool,
}

impl Failure {
    fn new(err: impl std::fmt::Display, configuration: bool) -> Self {
        Self {
            message: err.to_string(),
            configuration,
        }
    }
}

impl From<faro_backend::StartupError> for Failure {
    fn from(err: faro_backend::StartupError) -> Self {
        let configuration = err.is_configuration();
        Self::new(err, configuration)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => Command::Serve,
        ["migrate"] => Command::Migrate,
        ["rekey"] => Command::Rekey,
        // The container health check: the image has no shell or curl, and this must not
        // depend on the rest of the configuration.
        ["healthcheck"] => return healthcheck(),
        ["--version"] => {
            println!(
                "faro-backend {} ({})",
                env!("CARGO_PKG_VERSION"),
                version::GIT_SHA
            );
            return ExitCode::SUCCESS;
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("faro-backend: unknown arguments {other:?}\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("faro-backend: configuration error: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("faro-backend: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match command {
            Command::Migrate => prepare_stores(&config)
                .await
                .map_err(Failure::from)
                .map(|()| {
                    tracing::info!(database = %config.database.url, "database is up to date");
                }),
            Command::Rekey => {
                let sdk = dynamo::sdk_config(&config.dynamodb).await;
                let (pool, _credentials) = db::connect(&config.database, &sdk)
                    .await
                    .map_err(|e| Failure::new(e, false))?;
                let keys = sealing::KeyRing::from_config(&config.encryption);
                let rekeyed = sealing::rekey(&pool, &keys).await;
                pool.close().await;
                let report = rekeyed.map_err(|e| {
                    let configuration = e.is_key_mismatch();
                    Failure::new(e, configuration)
                })?;
                println!("{report}");
                Ok(())
            }
            Command::Serve => {
                let app = App::build(config).await?;
                let external = &app.state().external;
                tracing::info!(
                    addr = %app.local_addr(),
                    version = env!("CARGO_PKG_VERSION"),
                    git_sha = version::GIT_SHA,
                    deepseek = ?external.deepseek_mode,
                    sleakops = ?external.sleakops_mode,
                    "listening"
                );
                app.run(shutdown::signal())
                    .await
                    .map_err(|e| Failure::new(e, false))
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure {
            message,
            configuration,
        }) => {
            tracing::error!(error = %message, "exiting");
            if configuration {
                eprintln!("faro-backend: configuration error: {message}");
                ExitCode::from(EXIT_CONFIG)
            } else {
                eprintln!("faro-backend: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

/// `GET http://127.0.0.1:$FARO_PORT/healthz` within 3 s: exit 0 on 200, 1 otherwise.
fn healthcheck() -> ExitCode {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    let port: u16 = match std::env::var("FARO_PORT").ok().map(|p| p.parse()) {
        None => 8080,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("faro-backend healthcheck: FARO_PORT is not a port number");
            return ExitCode::FAILURE;
        }
    };
    let timeout = Duration::from_secs(3);
    let probe = || -> std::io::Result<bool> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("faro-backend healthcheck: /healthz did not answer 200");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("faro-backend healthcheck: {err}");
            ExitCode::FAILURE
        }
    }
}
