//! Child process supervision: nothing xtask starts outlives it.
//!
//! - Every child runs in its own process group, so the terminal's Ctrl-C reaches only xtask, which
//!   then stops the children in order instead of all of them dying at once mid-write.
//! - Every child gets `PR_SET_PDEATHSIG = SIGKILL`, so it dies even when xtask is SIGKILLed.
//!   The kernel sends that signal when the *thread* that forked the child ends: children are
//!   spawned from the main thread only, which lives as long as xtask.
//! - [`Child`] stops its whole process group when dropped (SIGTERM, a grace period, SIGKILL), so
//!   a failed step or a panic leaves nothing behind either.
//! - Ctrl-C and SIGTERM set a flag that the loops poll through [`shutdown_requested`], [`sleep`]
//!   and [`Child::wait`]; a second Ctrl-C kills every child group at once and exits.
//!
//! Signals are sent with the `kill` program: sending one from Rust needs `unsafe` (libc::kill),
//! which this crate keeps to the single `pre_exec` hook below.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::Hint;

/// How often waits look at children and at the shutdown flag.
const POLL: Duration = Duration::from_millis(20);

static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// Process groups of the children alive now, for the second Ctrl-C.
static LIVE_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not start `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("lost track of `{name}`: {source}")]
    Wait { name: String, source: io::Error },
    #[error("`{name}` failed ({status})")]
    Failed { name: String, status: String },
    #[error("interrupted")]
    Interrupted,
    #[error("`{name}` did not finish within {} s", limit.as_secs())]
    TimedOut { name: String, limit: Duration },
    #[error("could not install the Ctrl-C handler: {0}")]
    Signals(io::Error),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Spawn { program, source } if source.kind() == io::ErrorKind::NotFound => Some(
                format!("`{program}` is not on PATH; install it or fix PATH"),
            ),
            _ => None,
        }
    }
}

/// True once Ctrl-C or SIGTERM reached xtask.
pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::SeqCst)
}

/// Routes SIGINT and SIGTERM to the shutdown flag (a second one kills everything and exits 130).
pub fn install_signal_handlers() -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(Error::Signals)?;
    // Registered here, before returning, so that no signal falls between the cracks.
    let (mut interrupt, mut terminate) = runtime
        .block_on(async {
            Ok((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .map_err(Error::Signals)?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    if SHUTDOWN.swap(true, Ordering::SeqCst) {
                        eprintln!("\nxtask: killing everything now");
                        kill_all_groups();
                        std::process::exit(130);
                    }
                    eprintln!("\nxtask: stopping… (Ctrl-C again to kill everything at once)");
                }
            });
        })
        .map_err(Error::Signals)?;
    Ok(())
}

fn kill_all_groups() {
    let groups = match LIVE_GROUPS.lock() {
        Ok(groups) => groups.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for pgid in groups {
        signal_group(pgid, "KILL");
    }
}

fn live_groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sleeps for `duration`, or less when a shutdown is requested (then `Err(Interrupted)`).
pub fn sleep(duration: Duration) -> Result<(), Error> {
    let end = Instant::now() + duration;
    loop {
        if shutdown_requested() {
            return Err(Error::Interrupted);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        thread::sleep((end - now).min(POLL));
    }
}

/// A short description of how a process ended.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// How [`Child::stop`] ended a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It had exited by itself before.
    AlreadyExited(ExitStatus),
    /// It exited after SIGTERM.
    Terminated,
    /// It ignored SIGTERM for the whole grace period and was SIGKILLed.
    Killed,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyExited(status) => write!(f, "had already exited ({})", describe(*status)),
            Self::Terminated => f.write_str("stopped"),
            Self::Killed => f.write_str("killed (ignored SIGTERM)"),
        }
    }
}

/// A running child process (and its process group), stopped when dropped.
#[derive(Debug)]
pub struct Child {
    name: String,
    process: std::process::Child,
    /// How long it may take to exit after SIGTERM before it gets SIGKILL.
    grace: Duration,
    exited: Option<ExitStatus>,
    stopped: bool,
}

/// Starts `cmd` as a supervised child named `name` (for messages). Stdin is always /dev/null.
pub fn spawn(name: &str, cmd: &mut Command, grace: Duration) -> Result<Child, Error> {
    cmd.stdin(Stdio::null()).process_group(0);
    die_with_parent(cmd);
    let process = cmd.spawn().map_err(|source| Error::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    live_groups().push(process.id());
    Ok(Child {
        name: name.to_string(),
        process,
        grace,
        exited: None,
        stopped: false,
    })
}

/// Runs `cmd` to completion; `Err(Failed)` unless it exits 0.
pub fn run(name: &str, cmd: &mut Command) -> Result<(), Error> {
    let status = status(name, cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Failed {
            name: name.to_string(),
            status: describe(status),
        })
    }
}

/// Runs `cmd` to completion and returns how it exited.
pub fn status(name: &str, cmd: &mut Command) -> Result<ExitStatus, Error> {
    let mut child = spawn(name, cmd, Duration::from_secs(10))?;
    let status = child.wait()?;
    child.stop();
    Ok(status)
}

/// How a wait treats Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnShutdown {
    /// Give up at once (`Err(Interrupted)`) and stop the child.
    Abort,
    /// Let the child finish, within this time: for the clean-up after a Ctrl-C.
    Finish(Duration),
}

/// Runs `cmd` to completion with its stdout and stderr captured.
pub fn capture(name: &str, cmd: &mut Command, on_shutdown: OnShutdown) -> Result<Output, Error> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(name, cmd, Duration::from_secs(5))?;
    let stdout = child.process.stdout.take().map(drain);
    let stderr = child.process.stderr.take().map(drain);
    let status = match on_shutdown {
        OnShutdown::Abort => child.wait()?,
        OnShutdown::Finish(limit) => child.wait_within(limit)?,
    };
    // Stopping first ends whatever else in the group still holds the pipes open.
    child.stop();
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

impl Child {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The child's stdout, when it was spawned with `Stdio::piped()` and not taken before.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.process.stdout.take()
    }

    /// `Some(status)` once the child has exited.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>, Error> {
        if self.exited.is_none() {
            self.exited = self.process.try_wait().map_err(|source| Error::Wait {
                name: self.name.clone(),
                source,
            })?;
        }
        Ok(self.exited)
    }

    /// Waits for the child to exit; returns `Err(Interrupted)` as soon as a shutdown is requested
    /// (the child is then still running: drop or stop it).
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            if shutdown_requested() {
                return Err(Error::Interrupted);
            }
            thread::sleep(POLL);
        }
    }

    /// Waits for the child to exit, whatever the shutdown flag says, for at most `limit`.
    pub fn wait_within(&mut self, limit: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::TimedOut {
                    name: self.name.clone(),
                    limit,
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Stops the child's process group: SIGTERM, up to the grace period, then SIGKILL.
    pub fn stop(mut self) -> Stopped {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Stopped {
        self.stopped = true;
        let pgid = self.process.id();
        let outcome = match self.try_status() {
            Ok(Some(status)) => Stopped::AlreadyExited(status),
            _ => {
                if !signal_group(pgid, "TERM") {
                    let _ = self.process.kill();
                }
                let deadline = Instant::now() + self.grace;
                loop {
                    match self.process.try_wait() {
                        Ok(Some(status)) => {
                            self.exited = Some(status);
                            break Stopped::Terminated;
                        }
                        Ok(None) if Instant::now() < deadline => {
                            thread::sleep(Duration::from_millis(10))
                        }
                        _ => {
                            signal_group(pgid, "KILL");
                            let _ = self.process.kill();
                            self.exited = self.process.wait().ok();
                            break Stopped::Killed;
                        }
                    }
                }
            }
        };
        // Whatever the leader left behind in its group goes too.
        signal_group(pgid, "KILL");
        live_groups().retain(|&g| g != pgid);
        outcome
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.stopped {
            self.shut_down();
        }
    }
}

/// Sends `signal` (a name such as TERM) to every process in group `pgid`.
fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Asks the kernel to SIGKILL the child when xtask dies, however it dies.
// `pre_exec` is unsafe because its closure runs in the forked child before exec, where only
// async-signal-safe calls are sound; this is the one place in xtask that needs `unsafe`.
#[allow(unsafe_code)]
///
/// The kernel sends the signal when the *thread* that spawned the child ends, not the process:
/// children that must outlive a step (the local stack's servers) are spawned on the main thread.
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure only calls prctl(2) and getppid(2), which are async-signal-safe, and
    // builds its errors without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // xtask may have died between fork and prctl: then the signal would never come.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_alive(pgid: u32) -> bool {
        Command::new("kill")
            .args(["-s", "0", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Orphaned grandchildren are reaped by init, which may take a moment.
    fn gone_soon(pgid: u32) -> bool {
        (0..100).any(|_| {
            let alive = group_alive(pgid);
            if alive {
                thread::sleep(Duration::from_millis(20));
            }
            !alive
        })
    }

    /// `sh -c script` started as `name` with a stop grace of `grace`, given a moment to get
    /// going; with its process group.
    fn started_shell(name: &str, script: &str, grace: Duration) -> (Child, u32) {
        let child = spawn(name, Command::new("sh").args(["-c", script]), grace).unwrap();
        let pgid = child.pid();
        thread::sleep(Duration::from_millis(100));
        (child, pgid)
    }

    #[test]
    fn drop_kills_the_whole_group() {
        // The shell starts a grandchild; both must go when the guard drops.
        let (child, pgid) =
            started_shell("sh", "sleep 30 & sleep 30; wait", Duration::from_secs(2));
        assert!(group_alive(pgid));
        drop(child);
        assert!(gone_soon(pgid), "process group {pgid} survived");
    }

    #[test]
    fn stop_escalates_to_sigkill() {
        let (child, pgid) = started_shell(
            "stubborn",
            "trap '' TERM; while :; do sleep 0.05; done",
            Duration::from_millis(300),
        );
        assert_eq!(child.stop(), Stopped::Killed);
        assert!(gone_soon(pgid));
    }

    #[test]
    fn run_and_capture() {
        run("true", &mut Command::new("true")).unwrap();
        let err = run("false", &mut Command::new("false")).unwrap_err();
        assert_eq!(err.to_string(), "`false` failed (exit code 1)");
        let out = capture(
            "echo",
            Command::new("sh").args(["-c", "echo out; echo err >&2"]),
            OnShutdown::Abort,
        )
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        let err = run("nope", &mut Command::new("/nonexistent/xtask-test")).unwrap_err();
        assert!(err.hint().is_some());
        let mut slow = Command::new("sleep");
        slow.arg("5");
        let err = capture(
            "sleep",
            &mut slow,
            OnShutdown::Finish(Duration::from_millis(100)),
        )
        .unwrap_err();
        assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    }
}
