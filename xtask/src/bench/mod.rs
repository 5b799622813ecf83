//! `cargo xtask bench`: start-up time, idle memory and load scenarios of the release backend,
//! and the sizes of what ships (the release image, the frontend's first load).
//!
//! Numbers are printed next to their budgets and never asserted: they depend on the machine and
//! on what else runs on it (here the load generator shares the cores with the backend), and the
//! tests build what they need in debug, which is bigger.

pub mod abuse;
pub mod artifacts;
pub mod loadgen;
pub mod memory;
pub mod scenarios;
pub mod seed;
pub mod stats;
pub mod worker;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::backend::{self, Env};
use crate::stack::{self, LocalStack, Mode, mysql};
use crate::workspace::Workspace;
use crate::{Hint, frontend, prereq, proc, sim};
use scenarios::Scenario;

/// Long enough for DynamoDB Local's JIT (a JVM) to compile its hot paths: with 1 s, the
/// create scenario measured 600–770 req/s in 8 s runs but 835–950 in 20 s runs.
const WARMUP: Duration = Duration::from_secs(3);
/// How often start-up polls /readyz.
const STARTUP_POLL: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Measured time per scenario.
    pub duration: Duration,
    pub connections: usize,
    /// Only these scenarios (names separated by commas).
    pub scenario: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            connections: 64,
            scenario: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown scenario `{name}`")]
    UnknownScenario { name: String, known: Vec<String> },
    #[error(transparent)]
    Stack(#[from] stack::Error),
    #[error(transparent)]
    Backend(#[from] backend::Error),
    #[error(transparent)]
    Proc(#[from] proc::Error),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("the backend exited during scenario {scenario} ({status})")]
    BackendDied { scenario: String, status: String },
    #[error("seeding the bench data failed: {0}")]
    Seed(#[from] seed::Error),
    #[error(transparent)]
    Sim(#[from] sim::Error),
    #[error(transparent)]
    Frontend(#[from] frontend::Error),
    #[error("`cargo run -p faro-deploy -- image build` failed ({status})")]
    ImageBuild { status: String },
    #[error("the image layout in {dir} cannot be read: {reason}")]
    Layout { dir: String, reason: String },
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownScenario { known, .. } => Some(format!(
                "the scenarios are {}; e.g. `cargo xtask bench --scenario {}`",
                known.join(", "),
                known.first().map(String::as_str).unwrap_or("healthz")
            )),
            Self::Stack(e) => e.hint(),
            Self::Backend(e) => e.hint(),
            Self::Proc(e) => e.hint(),
            Self::BackendDied { .. } | Self::Seed(_) => Some("see the backend's log above".into()),
            Self::Sim(e) => e.hint(),
            Self::Frontend(e) => e.hint(),
            Self::Layout { .. } => Some(
                "each build rewrites the layout: rerun `cargo xtask bench --scenario image`".into(),
            ),
            Self::ImageBuild { .. } => Some(
                "see faro-deploy's output above; `cargo xtask image build` alone shows it again \
                 (it needs `rustup target add x86_64-unknown-linux-musl` and \
                 `apt-get install -y musl-tools`)"
                    .into(),
            ),
            Self::Io { .. } => None,
        }
    }
}

/// The name that selects the release worker's throughput.
const WORKER: &str = "worker";

/// Which scenarios run: those without data, the names of those needing the seeded data,
/// whether the release worker's throughput is measured, and which builds are measured.
#[derive(Debug)]
struct Selection {
    plain: Vec<Scenario>,
    api: Vec<&'static str>,
    worker: bool,
    /// The hostile-load attacks ([`abuse`]).
    abuse: bool,
    image: bool,
    first_load: bool,
}

impl Selection {
    /// Whether the release backend runs (against the local stack).
    fn runs_backend(&self) -> bool {
        !self.plain.is_empty() || !self.api.is_empty() || self.worker || self.abuse
    }
}

fn select(options: &Options) -> Result<Selection, Error> {
    let plain = scenarios::all(options.connections);
    let Some(names) = &options.scenario else {
        return Ok(Selection {
            plain,
            api: scenarios::API.to_vec(),
            worker: true,
            abuse: true,
            image: true,
            first_load: true,
        });
    };
    let known: Vec<String> = plain
        .iter()
        .map(|s| s.name.clone())
        .chain(scenarios::API.iter().map(|n| n.to_string()))
        .chain([WORKER, abuse::NAME, artifacts::IMAGE, artifacts::FIRST_LOAD].map(String::from))
        .collect();
    // `a,b,c`: several scenarios, in the order the bench runs them.
    let names: Vec<&str> = names.split(',').map(str::trim).collect();
    if let Some(unknown) = names.iter().find(|n| !known.iter().any(|k| k == *n)) {
        return Err(Error::UnknownScenario {
            name: unknown.to_string(),
            known,
        });
    }
    let chosen = |name: &str| names.contains(&name);
    Ok(Selection {
        api: scenarios::API.into_iter().filter(|n| chosen(n)).collect(),
        plain: plain.into_iter().filter(|s| chosen(&s.name)).collect(),
        worker: chosen(WORKER),
        abuse: chosen(abuse::NAME),
        image: chosen(artifacts::IMAGE),
        first_load: chosen(artifacts::FIRST_LOAD),
    })
}

/// Releases in the seeded project, as the list budget assumes.
const SEEDED_RELEASES: u32 = 10_000;

/// One line of the results.
#[derive(Debug)]
struct Row {
    name: String,
    connections: usize,
    per_second: f64,
    p50: u32,
    p99: u32,
    max: u32,
    errors: u64,
    peak_kib: Option<u64>,
}

impl Row {
    fn new(scenario: &Scenario, outcome: &loadgen::Outcome, peak_kib: Option<u64>) -> Self {
        let at = |p| stats::percentile(&outcome.latencies_us, p).unwrap_or_default();
        Self {
            name: scenario.name.clone(),
            connections: scenario.connections,
            per_second: outcome.per_second(),
            p50: at(50.0),
            p99: at(99.0),
            max: outcome.latencies_us.last().copied().unwrap_or_default(),
            errors: outcome.errors,
            peak_kib,
        }
    }

    fn cells(&self) -> [String; 8] {
        [
            self.name.clone(),
            self.connections.to_string(),
            stats::thousands(self.per_second.round() as u64),
            stats::ms(self.p50),
            stats::ms(self.p99),
            stats::ms(self.max),
            stats::thousands(self.errors),
            self.peak_kib.map(stats::mb).unwrap_or_else(|| "?".into()),
        ]
    }
}

const HEADER: [&str; 8] = [
    "scenario", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "peak RSS",
];

fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 8]> = rows.iter().map(Row::cells).collect();
    stats::table(&HEADER, &cells)
}

pub fn run(options: &Options) -> Result<ExitCode, Error> {
    let scenarios = select(options)?;
    let ws = Workspace::locate();
    let measured = if scenarios.runs_backend() {
        run_backend(&ws, &scenarios, options)?
    } else {
        Measured::default()
    };
    let built = artifacts::run(&ws, scenarios.image, scenarios.first_load)?;
    report(&measured, &built, &ws);
    Ok(ExitCode::SUCCESS)
}

/// What the backend's scenarios measured.
#[derive(Debug, Default)]
struct Measured {
    http: Option<HttpResults>,
    workers: Vec<worker::Outcome>,
    attacks: Vec<abuse::Attack>,
}

/// The release backend's scenarios, against the local stack.
fn run_backend(
    ws: &Workspace,
    scenarios: &Selection,
    options: &Options,
) -> Result<Measured, Error> {
    let name = format!("faro_bench_{}", crate::test::run_id());
    // The stack first: a missing prerequisite shows before a release build of several minutes.
    let stack = LocalStack::start(Mode::Bench, ws)?;
    let result = backend::build(ws, true)
        .map_err(Error::from)
        .and_then(|binary| measure(&stack, &binary, &name, scenarios, options));
    match mysql::drop_databases_like(&stack.mysql, &mysql::like_exact(&name)) {
        Ok(dropped) if !dropped.is_empty() => eprintln!("xtask: dropped database {name}"),
        Ok(_) => {}
        Err(e) => eprintln!("xtask: warning: could not drop database {name}: {e}"),
    }
    stack.stop();
    result
}

fn measure(
    stack: &LocalStack,
    binary: &Path,
    name: &str,
    selection: &Selection,
    options: &Options,
) -> Result<Measured, Error> {
    let port = free_port()?;
    let base_env = |name: &str, port: u16| backend_env(stack, name, port);
    // Releases need an organization with a SleakOps key, verified against the simulator.
    let simulators = if selection.api.is_empty() && !selection.worker && !selection.abuse {
        None
    } else {
        let ws = Workspace::locate();
        Some(sim::start(
            &ws,
            &["DeepSeek", "SleakOps"],
            sim::Settings::BENCH,
        )?)
    };
    let mut env = base_env(name, port);
    env.extend(simulators.iter().flat_map(|s| s.env.iter().cloned()));
    let result = (|| {
        backend::migrate(binary, &env)?;
        let http = if selection.plain.is_empty() && selection.api.is_empty() {
            None
        } else {
            let sleakops_key = simulators.as_ref().and_then(|s| s.sleakops_key.as_deref());
            Some(http_scenarios(
                stack,
                binary,
                (name, port, &env),
                selection,
                options,
                sleakops_key,
            )?)
        };
        let workers = match &simulators {
            Some(simulators) if selection.worker => {
                worker::run(stack, binary, name, simulators, &base_env)?
            }
            _ => Vec::new(),
        };
        let attacks = match &simulators {
            Some(simulators) if selection.abuse => {
                abuse::run(stack, binary, name, simulators, &base_env)?
            }
            _ => Vec::new(),
        };
        Ok(Measured {
            http,
            workers,
            attacks,
        })
    })();
    if let Some(simulators) = simulators {
        let pid = simulators.child.pid();
        eprintln!("xtask: faro-sim (pid {pid}) {}", simulators.child.stop());
    }
    result
}

/// Runs `measure` against database `database`, which is dropped afterwards whatever happened.
fn with_database<T>(
    stack: &LocalStack,
    database: &str,
    measure: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    let result = measure();
    if mysql::drop_databases_like(&stack.mysql, &mysql::like_exact(database)).is_err() {
        eprintln!("xtask: warning: could not drop database {database}");
    }
    result
}

/// A port nothing listens on, for a backend.
fn free_port() -> Result<u16, Error> {
    prereq::free_port().map_err(|source| Error::Io {
        what: "finding a free port",
        source,
    })
}

/// What the HTTP scenarios measured.
#[derive(Debug)]
struct HttpResults {
    rows: Vec<Row>,
    startup: Duration,
    idle_kib: Option<u64>,
    /// The list query's own ceiling, when list-releases ran.
    ceiling: Option<String>,
}

/// The release backend's configuration for a bench database and table `name`.
fn backend_env(stack: &LocalStack, name: &str, port: u16) -> Env {
    let mut env = stack.backend_env(name, name, port);
    env.extend([
        ("FARO_ENV", "production".into()),
        ("FARO_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "warn".into()),
        ("FARO_AUTO_MIGRATE", "false".into()),
        // the release worker would only add noise to the HTTP scenarios
        ("FARO_WORKER_ENABLED", "false".into()),
    ]);
    // The local MariaDB has no certificate to verify (deployed tasks verify RDS's), unless
    // DATABASE_URL says how to use TLS itself.
    if stack
        .mysql
        .params
        .as_deref()
        .is_none_or(|p| !p.contains("ssl"))
    {
        env.push(("FARO_DATABASE_TLS", "preferred".into()));
    }
    env
}

/// One backend (database and table `name`, on `port`, configured by `env`), its start-up and
/// idle memory, then the HTTP scenarios one after another; the seeded organization gets
/// `sleakops_key`.
fn http_scenarios(
    stack: &LocalStack,
    binary: &Path,
    (name, port, env): (&str, u16, &Env),
    selection: &Selection,
    options: &Options,
    sleakops_key: Option<&str>,
) -> Result<HttpResults, Error> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    eprintln!("xtask: starting the release backend on {addr}");
    let since = Instant::now();
    let mut child = backend::spawn(binary, env)?;
    let startup = backend::wait_ready(
        &mut child,
        addr,
        since,
        Duration::from_secs(30),
        STARTUP_POLL,
    )?;
    let pid = child.pid();
    let idle_kib = memory::read(pid).ok().map(|m| m.rss_kib);
    eprintln!(
        "xtask: ready in {:.1} ms; idle RSS {}",
        startup.as_secs_f64() * 1000.0,
        idle_kib.map(stats::mb).unwrap_or_else(|| "?".into())
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "starting the load generator's runtime",
            source,
        })?;
    let mut scenarios = selection.plain.clone();
    let mut seeded = None;
    if !selection.api.is_empty() {
        eprintln!("xtask: seeding a project with {SEEDED_RELEASES} releases");
        let started = Instant::now();
        let data = seed::seed(
            &runtime,
            addr,
            sleakops_key,
            &stack.mysql,
            name,
            SEEDED_RELEASES,
        )?;
        eprintln!("xtask: seeded in {:.1} s", started.elapsed().as_secs_f64());
        let connections = (options.connections / 2).max(1);
        scenarios.extend(
            scenarios::api(connections, &data.token, seed::SLUG, data.release_id)
                .into_iter()
                .filter(|s| selection.api.contains(&s.name.as_str())),
        );
        seeded = Some(data);
    }
    let mut rows = Vec::new();
    for scenario in &scenarios {
        let _ = memory::reset_peak(pid);
        eprintln!(
            "xtask: scenario {}: {} {} over {} connections, {} s warm-up + {} s…",
            scenario.name,
            scenario.method,
            scenario.path,
            scenario.connections,
            WARMUP.as_secs(),
            options.duration.as_secs()
        );
        let outcome = loadgen::run(&runtime, addr, scenario, WARMUP, options.duration);
        if proc::shutdown_requested() {
            return Err(proc::Error::Interrupted.into());
        }
        if let Some(status) = child.try_status()? {
            return Err(Error::BackendDied {
                scenario: scenario.name.clone(),
                status: proc::describe(status),
            });
        }
        let peak_kib = memory::read(pid).ok().map(|m| m.peak_kib);
        let row = Row::new(scenario, &outcome, peak_kib);
        eprintln!(
            "  {} req/s  p50 {} ms  p99 {} ms  max {} ms  errors {}  peak RSS {}",
            stats::thousands(row.per_second.round() as u64),
            stats::ms(row.p50),
            stats::ms(row.p99),
            stats::ms(row.max),
            row.errors,
            peak_kib.map(stats::mb).unwrap_or_else(|| "?".into())
        );
        rows.push(row);
    }
    drop(runtime);
    eprintln!("xtask: faro-backend (pid {pid}) {}", child.stop());
    let ceiling = match (&seeded, selection.api.contains(&scenarios::API[0])) {
        (Some(data), true) => Some(list_ceiling(stack, name, data, options)?),
        _ => None,
    };
    Ok(HttpResults {
        rows,
        startup,
        idle_kib,
        ceiling,
    })
}

fn report(measured: &Measured, built: &artifacts::Results, ws: &Workspace) {
    let Measured {
        http,
        workers,
        attacks,
    } = measured;
    let http = http.as_ref();
    println!();
    if let Some(http) = http {
        println!("{}", table(&http.rows));
        println!();
        println!(
            "start-up  {:>8.1} ms   (spawn to the first 200 from /readyz)",
            http.startup.as_secs_f64() * 1000.0
        );
        println!(
            "idle RSS  {:>11}   (right after start-up)",
            http.idle_kib.map(stats::mb).unwrap_or_else(|| "?".into())
        );
    }
    for outcome in workers {
        println!("{}", outcome.line());
    }
    let rows = http.map_or(&[][..], |h| &h.rows[..]);
    if let Some(line) = http.and_then(|h| h.ceiling.as_deref()) {
        println!("{line}");
        let endpoint = rows.iter().find(|r| r.name == scenarios::API[0]);
        let queries = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<f64>().ok());
        if let (Some(row), Some(queries)) = (endpoint, queries) {
            println!(
                "list-releases serves {:.0} % of the database's own ceiling for its query",
                100.0 * row.per_second / queries
            );
        }
    }
    if !attacks.is_empty() {
        println!();
        let cells: Vec<_> = attacks.iter().map(abuse::cells).collect();
        println!("{}", stats::table(&abuse::HEADER, &cells));
        for line in attacks.iter().filter_map(abuse::legit_line) {
            println!("{line}");
        }
    }
    let backend_ran = http.is_some() || !workers.is_empty() || !attacks.is_empty();
    if backend_ran {
        println!();
        println!(
            "budgets: healthz ≥ 30,000 req/s and p99 < 5 ms at 64 connections; start-up < 150 ms; idle RSS < 25 MB"
        );
        println!(
            "         list-releases ≥ 3,000 req/s with p99 < 20 ms at 32 connections; create-release ≥ 800 req/s"
        );
        println!("         worker ≥ 200 releases/s with 4 tasks (simulators without delay)");
        println!("         {}", abuse::BUDGET);
    }
    // What ships: each with its budget beside it.
    if backend_ran && !built.is_empty() {
        println!();
    }
    if let Some(load) = &built.first_load {
        println!("{}", load.line());
    }
    if let Some(image) = &built.image {
        for line in image.lines(ws) {
            println!("{line}");
        }
    }
    if backend_ran {
        println!(
            "(printed, not asserted; the load generator shares this machine's {} cores with the backend)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    } else {
        println!("(printed, not asserted)");
    }
}

/// The list query alone in a closed loop over a pool (`backend/benches/list_ceiling.rs`).
fn list_ceiling(
    stack: &LocalStack,
    name: &str,
    data: &seed::Seeded,
    options: &Options,
) -> Result<String, Error> {
    let ws = Workspace::locate();
    let mut cmd = ws.cargo();
    cmd.args([
        "bench",
        "--quiet",
        "-p",
        "faro-backend",
        "--bench",
        "list_ceiling",
    ])
    .env("DATABASE_URL", stack.mysql.with_database(name).to_url())
    .env("FARO_BENCH_USER_ID", data.user_id.to_string())
    .env("FARO_BENCH_PROJECT", seed::SLUG)
    .env("FARO_BENCH_SECS", options.duration.as_secs().to_string())
    .env(
        "FARO_BENCH_CONNECTIONS",
        (options.connections / 2).max(1).to_string(),
    );
    eprintln!("xtask: the list query alone, in a loop over the pool");
    let output = proc::capture(
        "cargo bench --bench list_ceiling",
        &mut cmd,
        proc::OnShutdown::Abort,
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout
        .lines()
        .find(|l| l.starts_with("list_ceiling:"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "list_ceiling: no result ({}): {}",
                proc::describe(output.status),
                String::from_utf8_lossy(&output.stderr).trim()
            )
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_selection() {
        let options = Options::default();
        let all = select(&options).unwrap();
        assert_eq!(all.plain.len(), scenarios::all(64).len());
        assert_eq!(all.api, scenarios::API);
        assert!(all.worker && all.abuse && all.image && all.first_load);
        let options = Options {
            scenario: Some("readyz".into()),
            ..Options::default()
        };
        let chosen = select(&options).unwrap();
        assert_eq!(chosen.plain.len(), 1);
        assert!(chosen.api.is_empty());
        assert_eq!(chosen.plain[0].path, "/readyz");
        let options = Options {
            scenario: Some("create-release".into()),
            ..Options::default()
        };
        let chosen = select(&options).unwrap();
        assert!(chosen.plain.is_empty());
        assert_eq!(chosen.api, ["create-release"]);
        assert!(!chosen.worker);
        let options = Options {
            scenario: Some("worker".into()),
            ..Options::default()
        };
        let chosen = select(&options).unwrap();
        assert!(chosen.worker && chosen.plain.is_empty() && chosen.api.is_empty());
        assert!(!chosen.abuse && !chosen.image && !chosen.first_load);
        let options = Options {
            scenario: Some("abuse".into()),
            ..Options::default()
        };
        let chosen = select(&options).unwrap();
        assert!(chosen.abuse && chosen.runs_backend());
        assert!(chosen.plain.is_empty() && chosen.api.is_empty() && !chosen.worker);
        let options = Options {
            scenario: Some("healthz, get-release,worker,first-load".into()),
            ..Options::default()
        };
        let chosen = select(&options).unwrap();
        assert_eq!(chosen.plain.len(), 1);
        assert_eq!(chosen.api, ["get-release"]);
        assert!(chosen.worker && chosen.first_load && !chosen.image);
        for (name, image) in [("image", true), ("first-load", false)] {
            let options = Options {
                scenario: Some(name.into()),
                ..Options::default()
            };
            let chosen = select(&options).unwrap();
            assert!(!chosen.runs_backend(), "{name} needs no backend");
            assert_eq!((chosen.image, chosen.first_load), (image, !image));
        }
        let options = Options {
            scenario: Some("nope".into()),
            ..Options::default()
        };
        let err = select(&options).unwrap_err();
        let hint = err.hint().unwrap();
        assert!(
            select(&Options {
                scenario: Some("healthz,nope".into()),
                ..Options::default()
            })
            .is_err()
        );
        assert!(hint.contains("healthz, readyz, list-releases"), "{hint}");
        assert!(hint.contains("worker, abuse, image, first-load"), "{hint}");
    }

    #[test]
    fn results_table_lines_up() {
        let scenario = Scenario::get("healthz", "/healthz", 64);
        let outcome = loadgen::Outcome {
            requests: 312_345,
            errors: 0,
            elapsed: Duration::from_secs(10),
            latencies_us: vec![900, 1_230, 3_450, 10_120],
        };
        let row = Row::new(&scenario, &outcome, Some(14_336));
        let text = table(&[row]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), lines[1].len(), "{text}");
        assert!(lines[1].starts_with("healthz"));
        assert!(lines[1].contains("31,235"), "{text}");
        assert!(
            lines[1].contains("10.12") && lines[1].contains("14.0 MB"),
            "{text}"
        );
    }
}
