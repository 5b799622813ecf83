use faro_backend::{App, Config, prepare_stores, shutdown, telemetry, version};
use std::process::ExitCode;

const USAGE: &str = "usage: faro-backend [serve | migrate | --version | --help]
  serve     serve the HTTP API (the default)
  migrate   create the database if missing, apply migrations, create the DynamoDB table
            when FARO_CREATE_TABLE=true, and exit
configuration comes from environment variables; see README.md";

/// sysexits' EX_CONFIG and EX_USAGE, so a supervisor can tell bad configuration from a crash.
const EXIT_CONFIG: u8 = 78;
const EXIT_USAGE: u8 = 64;

enum Command {
    Serve,
    Migrate,
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
                .map_err(|e| e.to_string())
                .map(|()| {
                    tracing::info!(database = %config.database.url, "database is up to date");
                }),
            Command::Serve => {
                let app = App::build(config).await.map_err(|e| e.to_string())?;
                tracing::info!(
                    addr = %app.local_addr(),
                    version = env!("CARGO_PKG_VERSION"),
                    git_sha = version::GIT_SHA,
                    "listening"
                );
                app.run(shutdown::signal()).await.map_err(|e| e.to_string())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "exiting");
            eprintln!("faro-backend: {err}");
            ExitCode::FAILURE
        }
    }
}
