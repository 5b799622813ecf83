//! `cargo xtask dev`: the local stack plus the backend, rebuilt and restarted when a source changes.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use crate::backend::{self, Env};
use crate::stack::{self, LocalStack, Mode};
use crate::watch::Watcher;
use crate::workspace::Workspace;
use crate::{Hint, demo, frontend, prereq, proc, sim};

const DEFAULT_PORT: u16 = 8080;
const DATABASE: &str = "faro_dev";
const TABLE: &str = "faro_dev";
/// A debug backend applies migrations and may create its table on start: give it time.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--port`; else `$FARO_PORT`; else 8080.
    pub port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("FARO_PORT is `{0}`, not a port number")]
    BadPort(String),
    #[error(transparent)]
    Prereq(#[from] prereq::Error),
    #[error(transparent)]
    Stack(#[from] stack::Error),
    #[error(transparent)]
    Backend(#[from] backend::Error),
    #[error(transparent)]
    Sim(#[from] sim::Error),
    #[error(transparent)]
    Frontend(#[from] frontend::Error),
    #[error(transparent)]
    Proc(#[from] proc::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::BadPort(_) => Some("for example `FARO_PORT=8081 cargo xtask dev`".into()),
            Self::Prereq(e) => e.hint(),
            Self::Stack(e) => e.hint(),
            Self::Backend(backend::Error::Build { .. }) => {
                Some("fix the errors above, then run `cargo xtask dev` again".into())
            }
            Self::Backend(e) => e.hint(),
            Self::Sim(e) => e.hint(),
            Self::Frontend(e) => e.hint(),
            Self::Proc(e) => e.hint(),
        }
    }
}

fn port(options: &Options) -> Result<u16, Error> {
    if let Some(port) = options.port {
        return Ok(port);
    }
    match std::env::var("FARO_PORT") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(Error::BadPort(value)),
        _ => Ok(DEFAULT_PORT),
    }
}

fn backend_env(stack: &LocalStack, port: u16) -> Env {
    let mut env = stack.backend_env(DATABASE, TABLE, port);
    env.extend([
        ("FARO_ENV", "dev".into()),
        ("FARO_LOG_FORMAT", "pretty".into()),
        ("FARO_AUTO_MIGRATE", "true".into()),
    ]);
    env
}

/// Modification time and size of the binary, to tell whether a build changed it.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The running backend and the binary it runs.
struct Running {
    child: proc::Child,
    stamp: Option<(SystemTime, u64)>,
}

fn start_backend(binary: &Path, env: &Env, addr: SocketAddr) -> Result<Running, Error> {
    let stamp = stamp(binary);
    let since = Instant::now();
    let mut child = backend::spawn(binary, env)?;
    backend::wait_ready(
        &mut child,
        addr,
        since,
        READY_TIMEOUT,
        Duration::from_millis(50),
    )?;
    Ok(Running { child, stamp })
}

pub fn run(options: &Options) -> Result<ExitCode, Error> {
    let ws = Workspace::locate();
    let port = port(options)?;
    let other = port.checked_add(1).unwrap_or(8081);
    prereq::port_free(
        port,
        &format!("`FARO_PORT={other} cargo xtask dev` or `cargo xtask dev --port {other}`"),
    )?;
    // Changes made while the first build runs count too.
    let mut watcher = Watcher::new(&ws.root);

    let stack = LocalStack::start(Mode::Dev, &ws)?;
    let mut env = backend_env(&stack, port);
    let simulated = sim::wanted();
    let simulators = if simulated.is_empty() {
        None
    } else {
        let simulators = sim::start(&ws, &simulated, sim::Settings::DEV)?;
        env.extend(simulators.env.iter().cloned());
        Some(simulators)
    };
    // The app, served by the backend from the same origin (no CORS needed).
    let mut app = frontend::DevFrontend::start(&ws)?;
    env.push(app.env());
    let binary = backend::build(&ws, false)?;
    backend::migrate(&binary, &env)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut backend = Some(start_backend(&binary, &env, addr)?);

    let base = format!("http://127.0.0.1:{port}");
    let sleakops_key = simulators
        .as_ref()
        .and_then(|s| s.sleakops_key.clone())
        .or_else(sim::real_sleakops_key);
    // Without it the app still runs: one cannot release until an owner sets a key.
    let demo = sleakops_key.map(|key| demo::prepare(&base, &key));
    eprintln!();
    eprintln!("xtask: Faro is running");
    eprintln!("  app/API    {base}");
    eprintln!("  readiness  {base}/readyz");
    eprintln!("  version    {base}/api/version");
    eprintln!(
        "  MySQL      {}{}",
        stack.mysql.with_database(DATABASE),
        if stack.mysql_private {
            " (private, data in target/faro-mysql)"
        } else {
            ""
        }
    );
    eprintln!("  DynamoDB   {} (table {TABLE})", stack.dynamodb);
    for (name, value) in simulators.iter().flat_map(|s| &s.env) {
        if name.ends_with("_BASE_URL") {
            eprintln!("  simulator  {value} ({name})");
        }
    }
    if !simulated.is_empty() {
        eprintln!(
            "             {} simulated: set FARO_DEEPSEEK_API_KEY / FARO_SLEAKOPS_API_KEY to use the real services",
            simulated.join(" and ")
        );
    }
    match &demo {
        Some(Ok(demo)) => eprint!(
            "{}",
            demo_lines(
                demo,
                simulators.as_ref().and_then(|s| s.sleakops_key.as_deref()),
                simulators.as_ref().and_then(sim::Simulators::sleakops_url),
            )
        ),
        Some(Err(e)) => eprintln!(
            "xtask: warning: the demo account is not ready: {e}{}",
            e.hint()
                .map(|h| format!("\n  hint: {h}"))
                .unwrap_or_default()
        ),
        None => {}
    }
    let watched: Vec<String> = watcher
        .roots()
        .iter()
        .chain(app.watched().iter())
        .map(|p| ws.display(p).to_string())
        .collect();
    eprintln!(
        "xtask: watching {}; Ctrl-C stops everything",
        watched.join(", ")
    );
    eprintln!("xtask: open {base}/ in a browser");
    eprintln!();

    let result = watch_loop(
        &ws,
        &binary,
        &env,
        addr,
        (&mut watcher, &mut app),
        &mut backend,
    );

    if let Some(running) = backend.take() {
        let pid = running.child.pid();
        eprintln!("xtask: faro-backend (pid {pid}) {}", running.child.stop());
    }
    if let Some(simulators) = simulators {
        let pid = simulators.child.pid();
        eprintln!("xtask: faro-sim (pid {pid}) {}", simulators.child.stop());
    }
    stack.stop();
    match result {
        Err(_) if proc::shutdown_requested() => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

/// Rebuilds and restarts on change until Ctrl-C.
fn watch_loop(
    ws: &Workspace,
    binary: &Path,
    env: &Env,
    addr: SocketAddr,
    (watcher, app): (&mut Watcher, &mut frontend::DevFrontend),
    backend: &mut Option<Running>,
) -> Result<(), Error> {
    loop {
        if proc::sleep(Duration::from_secs(1)).is_err() {
            return Ok(());
        }
        app.poll(ws);
        if let Some(running) = backend
            && let Some(status) = running.child.try_status()?
        {
            eprintln!(
                "xtask: the backend exited ({}); it starts again after the next successful build",
                proc::describe(status)
            );
            *backend = None;
        }
        let Some(changed) = watcher.poll() else {
            continue;
        };
        eprintln!("xtask: {} changed; rebuilding", describe_changes(&changed));
        match backend::build(ws, false) {
            Ok(_) => {}
            Err(backend::Error::Build { .. }) => {
                eprintln!(
                    "xtask: build failed; {}",
                    if backend.is_some() {
                        "the previous backend keeps running"
                    } else {
                        "no backend is running"
                    }
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(running) = backend
            && running.stamp.is_some()
            && running.stamp == stamp(binary)
        {
            eprintln!("xtask: the backend binary did not change; nothing to restart");
            continue;
        }
        if let Some(old) = backend.take() {
            old.child.stop();
        }
        let started = Instant::now();
        match start_backend(binary, env, addr) {
            Ok(running) => {
                *backend = Some(running);
                eprintln!(
                    "xtask: backend restarted ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(_) if proc::shutdown_requested() => return Ok(()),
            Err(e) => {
                eprintln!("xtask: the new backend did not start: {e}");
                eprintln!("xtask: waiting for the next change");
            }
        }
    }
}

/// The demo account, its organization and, with the SleakOps simulator at `sim_url` (whose
/// first account's key is `sim_key`), how to give another organization a key.
fn demo_lines(demo: &demo::Demo, sim_key: Option<&str>, sim_url: Option<&str>) -> String {
    let org = &demo.organization;
    let key = match (sim_key, &org.sleakops_key.last4) {
        (Some(key), _) => format!("the simulator's {key}"),
        (None, Some(last4)) => format!("FARO_SLEAKOPS_API_KEY, …{last4}"),
        (None, None) => "FARO_SLEAKOPS_API_KEY".into(),
    };
    let mut out = format!(
        "  demo       {} / {} (organization {} `{}`, SleakOps key: {key}{})\n",
        demo::EMAIL,
        demo::PASSWORD,
        org.name,
        org.slug,
        if demo.signed_up {
            "; signed up now"
        } else {
            ""
        }
    );
    if let Some(url) = sim_url {
        let projects = sim::DEMO_PROJECTS;
        out.push_str(&format!(
            "             its key reaches SleakOps project {projects}\n  \
             SleakOps   {url} (the simulator); a new sign-up gets an organization of its own, \
             whose owner sets a key (PUT /api/orgs/{{org}}/sleakops-key) made by\n             \
             curl -X POST {url}/_sim/sleakops/accounts -H 'Content-Type: application/json' \
             -d '{{\"projects\":{{\"shop\":[\"staging\"]}}}}'\n             \
             requests per key: {url}/_sim/stats\n"
        ));
    }
    out
}

fn describe_changes(changed: &[PathBuf]) -> String {
    let shown: Vec<String> = changed
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    match changed.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_lists_stay_short() {
        let paths: Vec<PathBuf> = ["a.rs", "b.rs", "c.rs", "d.rs", "e.rs"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(describe_changes(&paths[..1]), "a.rs");
        assert_eq!(describe_changes(&paths), "a.rs, b.rs, c.rs and 2 more");
    }

    fn demo(last4: &str) -> demo::Demo {
        let now = chrono::Utc::now();
        demo::Demo {
            organization: faro_types::Organization {
                id: 1,
                slug: "demo".into(),
                name: "Demo".into(),
                role: faro_types::OrgRole::Owner,
                sleakops_key: faro_types::SleakopsKeyStatus {
                    configured: true,
                    last4: Some(last4.into()),
                    set_by: Some(demo::EMAIL.into()),
                    set_at: Some(now),
                },
                created_at: now,
                updated_at: now,
            },
            signed_up: false,
        }
    }

    #[test]
    fn the_demo_account_and_the_simulators_accounts_route_are_printed() {
        let lines = demo_lines(
            &demo("-key"),
            Some("sim-sleakops-key"),
            Some("http://127.0.0.1:4010"),
        );
        assert!(
            lines.contains("demo@faro.local / faro-demo-password"),
            "{lines}"
        );
        assert!(lines.contains("organization Demo `demo`"), "{lines}");
        assert!(
            lines.contains("curl -X POST http://127.0.0.1:4010/_sim/sleakops/accounts"),
            "{lines}"
        );
    }

    #[test]
    fn a_real_key_is_shown_by_its_last_four_characters_only() {
        let lines = demo_lines(&demo("wxyz"), None, None);
        assert!(lines.contains("FARO_SLEAKOPS_API_KEY, …wxyz"), "{lines}");
        assert!(!lines.contains("_sim"), "{lines}");
    }
}
