//! The external services' and the outbox's CloudWatch metrics, as Embedded Metric Format
//! lines on stdout (the awslogs driver ships them and CloudWatch extracts the metrics):
//! namespace `Faro`, dimension `Environment` = `FARO_METRICS_ENVIRONMENT`. Emitted once a
//! minute, and only when that variable is set (deployed tasks), by every task:
//!
//! | metric | unit | value |
//! |---|---|---|
//! | `ExternalServiceErrors` | Count | DeepSeek and SleakOps calls that failed (after retries) since the last line |
//! | `CircuitOpen` | Count | 1 while this task's circuit towards either service is open, else 0 |
//! | `OutboxLagSeconds` | Seconds | age of the oldest release whose build was not triggered yet |

use crate::AppState;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::sync::watch;

const NAMESPACE: &str = "Faro";
const PERIOD: Duration = Duration::from_secs(60);

/// Counters the request handlers and the worker add to.
#[derive(Debug, Default)]
pub struct Counters {
    external_errors: AtomicU64,
}

impl Counters {
    /// A call to DeepSeek or SleakOps failed (after the client's retries).
    pub fn external_error(&self) {
        self.external_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn take_external_errors(&self) -> u64 {
        self.external_errors.swap(0, Ordering::Relaxed)
    }
}

/// What one line reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub external_errors: u64,
    pub circuit_open: bool,
    pub outbox_lag: Duration,
}

/// The EMF document of `snapshot`, one line.
pub fn line(environment: &str, snapshot: &Snapshot, at: SystemTime) -> String {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    serde_json::json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Environment"]],
                "Metrics": [
                    {"Name": "ExternalServiceErrors", "Unit": "Count"},
                    {"Name": "CircuitOpen", "Unit": "Count"},
                    {"Name": "OutboxLagSeconds", "Unit": "Seconds"},
                ],
            }],
        },
        "Environment": environment,
        "ExternalServiceErrors": snapshot.external_errors,
        "CircuitOpen": u8::from(snapshot.circuit_open),
        "OutboxLagSeconds": snapshot.outbox_lag.as_secs_f64(),
    })
    .to_string()
}

pub async fn snapshot(state: &AppState) -> Snapshot {
    let external = &state.external;
    let circuit_open = external
        .deepseek
        .as_ref()
        .is_some_and(|c| c.circuit().is_open())
        || external.sleakops.circuit().is_open();
    let outbox_lag = super::store::outbox_lag(&state.db)
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot measure the outbox lag");
            Duration::ZERO
        });
    Snapshot {
        external_errors: state.metrics.take_external_errors(),
        circuit_open,
        outbox_lag,
    }
}

/// Prints a line every minute until `stop` turns true (if metrics are configured).
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let Some(environment) = state.config.metrics_environment.clone() else {
        let _ = stop.wait_for(|s| *s).await;
        return;
    };
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let snapshot = snapshot(&state).await;
        // Straight to stdout: the log subscriber would wrap it in its own JSON.
        println!("{}", line(&environment, &snapshot, SystemTime::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_embedded_metric_format() {
        let line = line(
            "staging",
            &Snapshot {
                external_errors: 3,
                circuit_open: true,
                outbox_lag: Duration::from_millis(1500),
            },
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        assert!(!line.contains('\n'));
        let doc: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Faro");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Environment"]])
        );
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            assert!(doc.get(name).is_some(), "{name} has a value");
        }
        assert_eq!(doc["Environment"], "staging");
        assert_eq!(doc["ExternalServiceErrors"], 3);
        assert_eq!(doc["CircuitOpen"], 1);
        assert_eq!(doc["OutboxLagSeconds"], 1.5);
    }
}
