//! How numbers, times and states read in the interface.

use chrono::{DateTime, Datelike, Timelike, Utc};
use faro_types::{EventKind, Release, ReleaseStatus, Role};

/// A span of time, to the two largest units: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration(secs: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    match secs {
        s if s < MIN => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MIN),
        s if s < DAY => match (s % HOUR) / MIN {
            0 => format!("{} h", s / HOUR),
            m => format!("{} h {m} min", s / HOUR),
        },
        s => match (s % DAY) / HOUR {
            0 => format!("{} d", s / DAY),
            h => format!("{} d {h} h", s / DAY),
        },
    }
}

/// How long ago (or until) `at` is, seen from `now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let ago = secs >= 0;
    let secs = secs.unsigned_abs();
    if secs < 45 {
        return "just now".into();
    }
    if secs >= 7 * 24 * 3600 {
        return date(at);
    }
    let span = match secs {
        s if s < 3600 => format!("{} min", (s + 30) / 60),
        s if s < 24 * 3600 => format!("{} h", (s + 1800) / 3600),
        s => format!("{} d", (s + 12 * 3600) / (24 * 3600)),
    };
    if ago {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// `2026-11-28`.
pub fn date(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", at.year(), at.month(), at.day())
}

/// `2026-11-28 14:03 UTC`: the exact time, for tooltips and `datetime` attributes' neighbours.
pub fn datetime(at: DateTime<Utc>) -> String {
    format!("{} {:02}:{:02} UTC", date(at), at.hour(), at.minute())
}

/// `14:03:07`, for timeline entries.
pub fn clock(at: DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

/// A rate between 0 and 1 as a percentage: `12.5 %`, `0 %`.
pub fn percent(rate: f64) -> String {
    let p = (rate * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// Deployments per day: `1.4 / day`; tiny rates as per week.
pub fn per_day(rate: f64) -> String {
    if rate <= 0.0 {
        "none".into()
    } else if rate < 0.1 {
        format!("{:.1} / week", rate * 7.0)
    } else {
        format!("{rate:.1} / day")
    }
}

/// The first seven characters of a commit SHA, as git shows it, or "branch head" for a
/// release whose commit SleakOps has not reported yet.
pub fn short_sha(sha: Option<&str>) -> &str {
    faro_types::short_commit(sha)
}

pub fn status_label(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::AwaitingApproval => "Waiting for approval",
        ReleaseStatus::Queued => "Queued",
        ReleaseStatus::Building => "Building",
        ReleaseStatus::Deploying => "Deploying",
        ReleaseStatus::Deployed => "Deployed",
        ReleaseStatus::Failed => "Failed",
        ReleaseStatus::Cancelled => "Cancelled",
        ReleaseStatus::NeedsAttention => "Needs a person",
        ReleaseStatus::Rejected => "Rejected",
        ReleaseStatus::Expired => "Expired",
    }
}

/// The heading over a release's `failure_reason`.
pub fn reason_heading(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::NeedsAttention => "Needs a person: what to check on SleakOps",
        _ => "Why it failed",
    }
}

/// What still runs on SleakOps for a cancelled release: SleakOps cannot stop a deployment,
/// so cancelling one only stops Faro following it.
pub fn still_on_sleakops(release: &Release) -> Option<String> {
    match (release.status, &release.sleakops_deployment_id) {
        (ReleaseStatus::Cancelled, Some(deployment)) => Some(format!(
            "Cancelled in Faro, but the deployment continues on SleakOps: deployment \
             {deployment} cannot be stopped from Faro. Check it on SleakOps."
        )),
        _ => None,
    }
}

pub fn event_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Requested => "Requested",
        EventKind::BuildStarted => "Build started",
        EventKind::BuildSucceeded => "Build succeeded",
        EventKind::DeploymentStarted => "Deployment started",
        EventKind::Deployed => "Deployed",
        EventKind::Failed => "Failed",
        EventKind::Cancelled => "Cancelled",
        EventKind::Retried => "Retried",
        EventKind::Progress => "Progress",
        EventKind::NeedsAttention => "Needs a person",
        EventKind::ApprovalRequested => "Approval requested",
        EventKind::Approved => "Approved",
        EventKind::Rejected => "Rejected",
        EventKind::Expired => "Expired",
        EventKind::Promoted => "Promoted",
        EventKind::RolledBack => "Rolled back",
        EventKind::Other => "Update",
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Viewer => "Viewer",
        Role::Maintainer => "Maintainer",
        Role::Owner => "Owner",
    }
}

/// `2 releases`, `1 release`.
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Tokens spent of a budget: `12,345 of 1,000,000 tokens`.
pub fn tokens_of(used: u64, limit: u64) -> String {
    format!("{} of {} tokens", thousands(used), thousands(limit))
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn token_counts_are_grouped_by_thousands() {
        assert_eq!(tokens_of(0, 1000), "0 of 1,000 tokens");
        assert_eq!(tokens_of(12_345, 1_000_000), "12,345 of 1,000,000 tokens");
        assert_eq!(thousands(999), "999");
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, s).unwrap()
    }

    #[test]
    fn durations_use_the_two_largest_units() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(60), "1 min");
        assert_eq!(duration(3599), "59 min");
        assert_eq!(duration(3600), "1 h");
        assert_eq!(duration(3600 + 5 * 60 + 9), "1 h 5 min");
        assert_eq!(duration(2 * 86400), "2 d");
        assert_eq!(duration(2 * 86400 + 4 * 3600 + 59), "2 d 4 h");
    }

    #[test]
    fn relative_times_round_and_fall_back_to_dates() {
        let now = at(12, 0, 0);
        assert_eq!(relative(at(11, 59, 30), now), "just now");
        assert_eq!(relative(at(11, 57, 0), now), "3 min ago");
        assert_eq!(relative(at(9, 10, 0), now), "3 h ago");
        assert_eq!(relative(at(12, 10, 0), now), "in 10 min");
        let days_ago = now - chrono::Duration::days(2);
        assert_eq!(relative(days_ago, now), "2 d ago");
        let long_ago = now - chrono::Duration::days(40);
        assert_eq!(relative(long_ago, now), "2026-10-19");
    }

    #[test]
    fn absolute_times() {
        assert_eq!(datetime(at(14, 3, 7)), "2026-11-28 14:03 UTC");
        assert_eq!(clock(at(4, 3, 7)), "04:03:07");
    }

    #[test]
    fn rates() {
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.125), "12.5 %");
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(1.0 / 3.0), "33.3 %");
        assert_eq!(per_day(0.0), "none");
        assert_eq!(per_day(0.04), "0.3 / week");
        assert_eq!(per_day(1.43), "1.4 / day");
    }

    fn release(status: ReleaseStatus, deployment: Option<&str>) -> Release {
        Release {
            status,
            sleakops_build_id: Some("12".into()),
            sleakops_deployment_id: deployment.map(str::to_owned),
            ..crate::state::fixtures::release(7)
        }
    }

    #[test]
    fn a_release_cancelled_during_its_deployment_says_the_deployment_continues_on_sleakops() {
        let notice = still_on_sleakops(&release(ReleaseStatus::Cancelled, Some("34")));
        assert_eq!(
            notice.as_deref(),
            Some(
                "Cancelled in Faro, but the deployment continues on SleakOps: deployment 34 \
                 cannot be stopped from Faro. Check it on SleakOps."
            )
        );
        assert_eq!(
            still_on_sleakops(&release(ReleaseStatus::Cancelled, None)),
            None
        );
        assert_eq!(
            still_on_sleakops(&release(ReleaseStatus::Deploying, Some("34"))),
            None
        );
    }

    #[test]
    fn labels() {
        assert_eq!(short_sha(Some("0123456789abcdef")), "0123456");
        assert_eq!(short_sha(Some("abc")), "abc");
        assert_eq!(short_sha(None), "branch head");
        assert_eq!(status_label(ReleaseStatus::Deploying), "Deploying");
        assert_eq!(
            status_label(ReleaseStatus::NeedsAttention),
            "Needs a person"
        );
        assert_eq!(
            reason_heading(ReleaseStatus::NeedsAttention),
            "Needs a person: what to check on SleakOps"
        );
        assert_eq!(reason_heading(ReleaseStatus::Failed), "Why it failed");
        assert_eq!(event_label(EventKind::BuildSucceeded), "Build succeeded");
        assert_eq!(role_label(Role::Owner), "Owner");
        assert_eq!(count(1, "release", "releases"), "1 release");
        assert_eq!(count(3, "release", "releases"), "3 releases");
    }
}
