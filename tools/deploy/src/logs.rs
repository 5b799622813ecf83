//! CloudWatch Logs: the last lines of one task, and `cargo xtask logs` (filter, follow).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::Hint;
use crate::aws::{Aws, sdk};

/// awslogs' stream prefix of the service's container (infra/service.yaml).
pub const STREAM_PREFIX: &str = "backend";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("CloudWatch Logs {call} on {group} failed: {detail}")]
    Call {
        call: &'static str,
        group: String,
        detail: String,
    },
    #[error("`{0}` is not a duration (use 30s, 15m, 2h or 1d)")]
    Since(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Call { detail, .. } if detail.contains("ResourceNotFound") => {
                "the log group appears with the service stack: deploy first (`cargo xtask deploy --env …`)".into()
            }
            Self::Call { .. } => "check the AWS credentials and region; rerun to retry".into(),
            Self::Since(_) => "for example `--since 15m`".into(),
        })
    }
}

/// The error of CloudWatch Logs call `name` on `group`, from the failure's description.
fn call(name: &'static str, group: &str) -> impl FnOnce(String) -> Error {
    let group = group.to_string();
    move |detail| Error::Call {
        call: name,
        group,
        detail,
    }
}

/// `30s`, `15m`, `2h`, `1d`.
pub fn parse_since(text: &str) -> Result<Duration, Error> {
    let bad = || Error::Since(text.to_string());
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// The last `n` lines a task wrote.
pub async fn task_lines(
    aws: &Aws,
    group: &str,
    container: &str,
    task_id: &str,
    n: i32,
) -> Result<Vec<String>, Error> {
    let stream = format!("{STREAM_PREFIX}/{container}/{task_id}");
    let out = sdk!(
        aws.logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(&stream)
            .start_from_head(false)
            .limit(n),
        call("GetLogEvents", group)
    )?;
    Ok(out
        .events()
        .iter()
        .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
        .collect())
}

/// What `cargo xtask logs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub since: Option<Duration>,
    pub filter: Option<String>,
    pub follow: bool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

/// Prints matching events of `group`, then with `follow` keeps polling until Ctrl-C.
pub async fn print(
    aws: &Aws,
    group: &str,
    query: &Query,
    mut out: impl std::io::Write,
) -> Result<usize, Error> {
    let mut start = now_ms() - query.since.unwrap_or(Duration::from_secs(600)).as_millis() as i64;
    let mut seen = BTreeSet::new();
    let mut printed = 0;
    loop {
        let mut token = None;
        let mut newest = start;
        loop {
            let page = sdk!(
                aws.logs
                    .filter_log_events()
                    .log_group_name(group)
                    .start_time(start)
                    .set_filter_pattern(query.filter.clone())
                    .set_next_token(token),
                call("FilterLogEvents", group)
            )?;
            // Pages come stream by stream: show each page in time order.
            let mut events: Vec<_> = page.events().iter().collect();
            events.sort_by_key(|e| e.timestamp().unwrap_or(0));
            for event in events {
                let id = event.event_id().unwrap_or_default().to_string();
                if !seen.insert(id) {
                    continue;
                }
                let ts = event.timestamp().unwrap_or(start);
                newest = newest.max(ts);
                let stream = event.log_stream_name().unwrap_or_default();
                let task = stream.rsplit('/').next().unwrap_or(stream);
                let _ = writeln!(
                    out,
                    "{} {} {}",
                    time(ts),
                    task.get(..8).unwrap_or(task),
                    event.message().unwrap_or_default().trim_end()
                );
                printed += 1;
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        if !query.follow {
            return Ok(printed);
        }
        let _ = out.flush();
        // Events can arrive late and out of order: look back a little, dedupe by id.
        start = newest - 5_000;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_since("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_since("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_since("15").is_err());
        assert!(parse_since("m").is_err());
        assert!(parse_since("5w").is_err());
    }
}
