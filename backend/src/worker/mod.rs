//! The release worker: takes releases from the outbox and drives each through SleakOps —
//! build, poll, deployment, poll — writing every change to MySQL and the release's timeline.
//!
//! Every backend task runs one, so any number of them share the work: rows are claimed with
//! `SELECT … FOR UPDATE SKIP LOCKED` as leases ([`store`]), and each release is resumed from
//! its stored state by whichever task claims it next: [`machine`] decides each step from
//! that state, [`job`] does the I/O. SleakOps being down makes
//! releases wait (rescheduled with exponential backoff, up to `FARO_WORKER_MAX_ATTEMPTS`);
//! a trigger whose outcome is unknown is never sent twice.
//!
//! [`run`] is polled inside `App::run`: when shutdown begins it stops claiming and tells its
//! jobs. A job waiting between two polls stops at once; one about to send a trigger clears
//! its mark and sends nothing; one whose trigger is in flight lets it finish and saves
//! SleakOps' answer. Every claimed row is then handed back (due at once, for another task),
//! never failed. The jobs get as long as the process has left (the drain period plus the
//! grace period, `FARO_SHUTDOWN_DRAIN_SECS` + `FARO_SHUTDOWN_GRACE_SECS`, which together stay
//! under Fargate's stop timeout); a trigger is one SleakOps attempt, bounded by
//! `FARO_SLEAKOPS_TIMEOUT_MS`, which the defaults fit in that time. A task that dies instead
//! simply stops renewing its leases, and another resumes its releases after at most one
//! lease (`FARO_WORKER_LEASE_MS`).

mod job;
mod machine;
pub mod metrics;
mod store;

use crate::AppState;
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};
use tokio::{sync::watch, task::JoinSet};

/// The worker of this task, for `/api/status`.
#[derive(Debug)]
pub struct WorkerState {
    id: String,
    enabled: bool,
    running: AtomicBool,
}

impl WorkerState {
    pub fn new(enabled: bool) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            enabled,
            running: AtomicBool::new(false),
        }
    }

    /// The prefix of this worker's claim tokens.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }
}

/// Runs the worker until `stop` turns true (see the module documentation).
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    if !state.worker.enabled() {
        let _ = stop.wait_for(|s| *s).await;
        return;
    }
    let config = state.config.worker.clone();
    let worker_id = state.worker.id().to_owned();
    state.worker.running.store(true, Ordering::SeqCst);
    tracing::info!(worker = %worker_id, concurrency = config.concurrency, "release worker started");

    let mut jobs = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        // Jobs that ended meanwhile free their slots too, so one claim fills them all.
        while let Some(joined) = jobs.try_join_next() {
            ended(joined);
        }
        let free = config.concurrency as usize - jobs.len();
        if free > 0 {
            match store::claim(&state.db, &worker_id, free as u32, config.lease).await {
                Ok(claims) => {
                    for claim in claims {
                        tracing::debug!(release_id = claim.release_id, "claimed");
                        jobs.spawn(supervise(state.clone(), claim, stop.clone()));
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot claim outbox rows"),
            }
        }
        // A finished job frees a slot (claim again at once); an idle worker polls.
        tokio::select! {
            Some(joined) = jobs.join_next(), if !jobs.is_empty() => ended(joined),
            () = tokio::time::sleep(config.poll), if jobs.len() < config.concurrency as usize => {}
            _ = stop.changed() => {}
        }
    }

    state.worker.running.store(false, Ordering::SeqCst);
    tracing::info!(jobs = jobs.len(), "release worker stopping");
    // The process lives this long after the stop signal; aborting a job earlier could cut
    // a trigger off before its answer is saved.
    let left = state.config.shutdown.drain + state.config.shutdown.grace;
    let drained =
        tokio::time::timeout(left, async { while jobs.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("release jobs outlived the shutdown period; aborting them");
        jobs.shutdown().await;
    }
    match store::release_all(&state.db, &worker_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "handed claimed releases back"),
        Err(err) => {
            tracing::warn!(error = %err, "cannot hand claimed releases back; their leases will lapse")
        }
    }
    tracing::info!("release worker stopped");
}

fn ended(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        tracing::error!(error = %err, "a release job panicked");
    }
}

/// The SleakOps client of the organization of the claimed release: its own key, never
/// another's. `None` when the organization has no key (it was removed after the release
/// was accepted): the row is handed back to wait for one, and the release stays queued.
async fn client_for(state: &AppState, claim: &store::Claim) -> Option<faro_sleakops::Client> {
    let found = async {
        let org_id = store::org_of(&state.db, claim.release_id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(org_id) = org_id else {
            return Ok(None);
        };
        crate::orgs::sleakops_key::client_of(state, org_id)
            .await
            .map_err(|e| e.to_string())
    };
    match found.await {
        Ok(Some(client)) => return Some(client),
        Ok(None) => tracing::warn!(
            release_id = claim.release_id,
            "the release's organization has no SleakOps key; the release waits for one"
        ),
        Err(err) => tracing::warn!(
            release_id = claim.release_id,
            error = %err,
            "cannot open the organization's SleakOps key; retrying later"
        ),
    }
    let wait = state.config.worker.retry_base;
    if let Err(err) = store::release(&state.db, claim, wait).await {
        tracing::warn!(release_id = claim.release_id, error = %err, "cannot hand the row back");
    }
    None
}

/// One job beside the heartbeat that renews its lease; the job learns of a lost claim
/// through `lost`. Both live in this one task, so aborting it (a dying process) stops both.
async fn supervise(state: AppState, claim: store::Claim, stop: watch::Receiver<bool>) {
    let Some(sleakops) = client_for(&state, &claim).await else {
        return;
    };
    let (lost_tx, lost) = watch::channel(false);
    let lease = state.config.worker.lease;
    let heartbeat = {
        let db = state.db.clone();
        let claim = claim.clone();
        async move {
            let every = lease / 3;
            loop {
                tokio::time::sleep(every.max(Duration::from_millis(50))).await;
                match store::renew(&db, &claim, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(release_id = claim.release_id, "claim lost");
                        let _ = lost_tx.send(true);
                        std::future::pending::<()>().await;
                    }
                    Err(err) => {
                        tracing::warn!(release_id = claim.release_id, error = %err, "cannot renew the claim")
                    }
                }
            }
        }
    };
    let job = job::Job {
        state,
        sleakops,
        claim,
        stop,
        lost,
    };
    tokio::select! {
        () = job.run() => {}
        () = heartbeat => {}
    }
}
