//! The release worker's throughput: releases taken from the outbox to `deployed` per second,
//! with one and with four backend tasks sharing the outbox, against simulators that answer
//! without delay (so the figure is the worker's own cost: MySQL, DynamoDB and HTTP calls).
//!
//! Each run gets its own database and DynamoDB table. The tasks start idle; the first makes a
//! project through the API (its organization given the simulator's SleakOps key, sealed as the
//! worker needs it); then one transaction queues every release with its outbox row, exactly as
//! `POST …/releases` leaves them, and the clock runs until the last of them is finished.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Error, free_port, with_database};
use crate::backend::{self, Env};
use crate::stack::{LocalStack, mysql};
use crate::{proc, sim};

use super::seed;

/// Releases queued per run: enough for several seconds of work at the budget.
pub const RELEASES: u32 = 2_000;
/// Backend tasks in each run.
pub const TASKS: [usize; 2] = [1, 4];
/// A run that has not finished by then is reported as it stands.
const LIMIT: Duration = Duration::from_secs(180);

/// One run's figures.
#[derive(Debug)]
pub struct Outcome {
    pub tasks: usize,
    pub deployed: u64,
    pub failed: u64,
    pub elapsed: Duration,
}

impl Outcome {
    /// Deployed releases per second: a failed release is not throughput (a worker failing
    /// everything quickly must not look fast).
    pub fn per_second(&self) -> f64 {
        self.deployed as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn line(&self) -> String {
        let mut notes = String::new();
        if self.deployed + self.failed < u64::from(RELEASES) {
            notes.push_str(&format!("; stopped at the {} s limit", LIMIT.as_secs()));
        }
        if self.failed > 0 {
            notes.push_str("; FAILURES: the simulators should fail none, see the backend's log");
        }
        format!(
            "worker    {:>8.0} releases/s with {} task{}  ({} deployed, {} failed, {:.1} s{notes})",
            self.per_second(),
            self.tasks,
            if self.tasks == 1 { "" } else { "s" },
            self.deployed,
            self.failed,
            self.elapsed.as_secs_f64(),
        )
    }
}

/// Runs the worker bench with every count of tasks in [`TASKS`], against `simulators` (started
/// with [`sim::Settings::BENCH`]).
pub fn run(
    stack: &LocalStack,
    binary: &Path,
    name: &str,
    simulators: &sim::Simulators,
    base_env: &dyn Fn(&str, u16) -> Env,
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::new();
    let mut result = Ok(());
    for tasks in TASKS {
        let database = format!("{name}_w{tasks}");
        let outcome = with_database(stack, &database, || {
            one_run(stack, binary, &database, tasks, simulators, base_env)
        });
        match outcome {
            Ok(outcome) => {
                eprintln!("  {}", outcome.line().trim_start_matches("worker").trim());
                outcomes.push(outcome);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    result.map(|()| outcomes)
}

fn one_run(
    stack: &LocalStack,
    binary: &Path,
    database: &str,
    tasks: usize,
    simulators: &sim::Simulators,
    base_env: &dyn Fn(&str, u16) -> Env,
) -> Result<Outcome, Error> {
    eprintln!("xtask: worker throughput with {tasks} task(s), {RELEASES} releases");
    let mut children = Vec::new();
    for task in 0..tasks {
        let port = free_port()?;
        let mut env = base_env(database, port);
        env.retain(|(k, _)| *k != "FARO_WORKER_ENABLED");
        env.extend(simulators.env.iter().cloned());
        env.push(("FARO_WORKER_ENABLED", "true".into()));
        if task == 0 {
            backend::migrate(binary, &env)?;
        }
        let since = Instant::now();
        let mut child = backend::spawn(binary, &env)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        backend::wait_ready(
            &mut child,
            addr,
            since,
            Duration::from_secs(30),
            Duration::from_millis(20),
        )?;
        if task == 0 {
            seed_project(addr, simulators)?;
        }
        children.push(child);
    }

    queue_releases(stack, database)?;
    let started = Instant::now();
    let (mut deployed, mut failed) = (0, 0);
    while deployed + failed < u64::from(RELEASES) && started.elapsed() < LIMIT {
        proc::sleep(Duration::from_millis(50))?;
        (deployed, failed) = finished(stack, database)?;
        for child in &mut children {
            if let Some(status) = child.try_status()? {
                return Err(Error::BackendDied {
                    scenario: format!("worker with {tasks} task(s)"),
                    status: proc::describe(status),
                });
            }
        }
    }
    let elapsed = started.elapsed();
    for child in children {
        child.stop();
    }
    Ok(Outcome {
        tasks,
        deployed,
        failed,
        elapsed,
    })
}

/// A user, a project and its environment, made through the API of the backend at `addr`.
fn seed_project(addr: SocketAddr, simulators: &sim::Simulators) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "starting the seed's runtime",
            source,
        })?;
    seed::project(&runtime, addr, simulators.sleakops_key.as_deref())?;
    Ok(())
}

/// Every release and its outbox row in one transaction, the rows `POST …/releases` writes.
fn queue_releases(stack: &LocalStack, database: &str) -> Result<(), Error> {
    let seq = seed::numbers(RELEASES);
    let statements = format!(
        "USE `{database}`; START TRANSACTION; \
         INSERT INTO releases (project_id, environment_id, branch, commit_sha, status, \
           requested_by, requested_at, updated_at, event_seq) \
           SELECT e.project_id, e.id, 'main', LPAD(HEX(seq.n + 1), 40, '0'), 'queued', u.id, \
           NOW(6), NOW(6), 0 FROM environments e, users u, {seq}; \
         INSERT INTO outbox (kind, release_id, payload, next_attempt_at, created_at, updated_at) \
           SELECT 'release.start', id, CONCAT('{{\"release_id\":', id, '}}'), NOW(6), NOW(6), \
           NOW(6) FROM releases ORDER BY id; \
         COMMIT;"
    );
    mysql::execute(&stack.mysql, &statements).map_err(seed_error)?;
    Ok(())
}

/// How many releases are deployed and how many failed.
fn finished(stack: &LocalStack, database: &str) -> Result<(u64, u64), Error> {
    let out = mysql::execute(
        &stack.mysql,
        &format!(
            "SELECT COALESCE(SUM(status = 'deployed'), 0), COALESCE(SUM(status = 'failed'), 0) \
             FROM `{database}`.releases"
        ),
    )
    .map_err(seed_error)?;
    let mut numbers = out
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    Ok((numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)))
}

fn seed_error(e: mysql::Error) -> Error {
    Error::Seed(seed::Error::Sql(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deployed_releases_count_and_failures_are_flagged() {
        let outcome = |deployed, failed| Outcome {
            tasks: 4,
            deployed,
            failed,
            elapsed: Duration::from_secs(2),
        };
        let clean = outcome(2_000, 0);
        assert_eq!(clean.per_second(), 1_000.0);
        assert!(!clean.line().contains("FAILURES"), "{}", clean.line());
        let failing = outcome(1_000, 1_000);
        assert_eq!(failing.per_second(), 500.0);
        assert!(failing.line().contains("FAILURES"), "{}", failing.line());
        assert!(outcome(10, 0).line().contains("limit"));
    }
}
