//! `faro-sim`: runs the DeepSeek and SleakOps simulators until SIGTERM or Ctrl-C, and prints
//! the configuration that points the backend at them, one `NAME=value` a line, on stdout.

use std::{io::Write, net::IpAddr, process::ExitCode, time::Duration};

const USAGE: &str = "usage: faro-sim [options]
  --host IP              address to listen on (default 127.0.0.1)
  --deepseek-port N      DeepSeek simulator port (default 0: a free one)
  --sleakops-port N      SleakOps simulator port (default 0: a free one)
  --deepseek-key KEY     the API key the DeepSeek simulator accepts (default sim-deepseek-key)
  --sleakops-key KEY     the key of the SleakOps simulator's first account (default sim-sleakops-key)
  --sleakops-projects P  what that account owns, as project=env,env;project=env
                         (default: any project and environment, and nothing to list)
  --token-delay-ms N     pause between streamed tokens (default 30)
  --step-ms N            time a build or deployment spends in each state (default 3000)
Once both listen it prints, on stdout:
  FARO_DEEPSEEK_BASE_URL=…  FARO_DEEPSEEK_API_KEY=…  FARO_SLEAKOPS_BASE_URL=…  FARO_SLEAKOPS_API_KEY=…
followed by a line `READY`.";

struct Args {
    host: IpAddr,
    deepseek_port: u16,
    sleakops_port: u16,
    deepseek_key: String,
    sleakops_key: String,
    sleakops_projects: Option<faro_sim::Projects>,
    token_delay: Duration,
    step: Duration,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        deepseek_port: 0,
        sleakops_port: 0,
        deepseek_key: faro_sim::deepseek::DEFAULT_KEY.to_owned(),
        sleakops_key: faro_sim::sleakops::DEFAULT_KEY.to_owned(),
        sleakops_projects: None,
        token_delay: Duration::from_millis(30),
        step: Duration::from_secs(3),
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes {what}, not {value:?}"))
        };
        let port = || {
            value
                .parse::<u16>()
                .map_err(|_| format!("{flag} takes a port number, not {value:?}"))
        };
        match flag.as_str() {
            "--host" => {
                parsed.host = value
                    .parse()
                    .map_err(|_| format!("--host takes an IP address, not {value:?}"))?;
            }
            "--deepseek-port" => parsed.deepseek_port = port()?,
            "--sleakops-port" => parsed.sleakops_port = port()?,
            "--deepseek-key" => parsed.deepseek_key = value.clone(),
            "--sleakops-key" => parsed.sleakops_key = value.clone(),
            "--sleakops-projects" => parsed.sleakops_projects = Some(projects(value)?),
            "--token-delay-ms" => {
                parsed.token_delay = Duration::from_millis(number("milliseconds")?);
            }
            "--step-ms" => parsed.step = Duration::from_millis(number("milliseconds")?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(parsed))
}

/// `shop=staging,production;blog=production`: projects, each with its environments.
fn projects(spec: &str) -> Result<faro_sim::Projects, String> {
    spec.split(';')
        .filter(|part| !part.trim().is_empty())
        .try_fold(faro_sim::Projects::new(), |projects, part| {
            let (project, environments) = part.split_once('=').unwrap_or((part, ""));
            let project = project.trim();
            if project.is_empty() {
                return Err(format!(
                    "--sleakops-projects: a project without a name in {part:?}"
                ));
            }
            Ok(projects.with(
                project,
                environments
                    .split(',')
                    .map(str::trim)
                    .filter(|environment| !environment.is_empty()),
            ))
        })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("faro-sim: {err}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("faro-sim: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome: std::io::Result<()> = runtime.block_on(async move {
        let deepseek = faro_sim::deepseek::start(faro_sim::deepseek::Options {
            addr: (args.host, args.deepseek_port).into(),
            api_key: args.deepseek_key.clone(),
            token_delay: args.token_delay,
            ..Default::default()
        })
        .await?;
        let sleakops = faro_sim::sleakops::start(faro_sim::sleakops::Options {
            addr: (args.host, args.sleakops_port).into(),
            api_key: args.sleakops_key.clone(),
            projects: args.sleakops_projects.clone(),
            step: args.step,
            ..Default::default()
        })
        .await?;
        // Listening for the stop signals before READY: whoever waits for READY may send one at
        // once, and it must stop us cleanly, not kill us.
        let stop = stop_signal()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "FARO_DEEPSEEK_BASE_URL={}", deepseek.base_url)?;
            writeln!(out, "FARO_DEEPSEEK_API_KEY={}", args.deepseek_key)?;
            writeln!(out, "FARO_SLEAKOPS_BASE_URL={}", sleakops.base_url)?;
            writeln!(out, "FARO_SLEAKOPS_API_KEY={}", args.sleakops_key)?;
            writeln!(out, "READY")?;
            out.flush()?;
        }
        tracing::info!(
            deepseek = %deepseek.base_url,
            sleakops = %sleakops.base_url,
            "simulators listening; admin routes under /_sim/"
        );
        stop.await;
        tracing::info!("stopping");
        drop((deepseek, sleakops));
        Ok(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("faro-sim: {err}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C), registered now, awaited later.
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
