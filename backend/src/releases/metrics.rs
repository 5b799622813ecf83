//! `GET /api/projects/{slug}/metrics`: DORA figures per environment, computed in SQL.
//!
//! The window is the last N UTC calendar days, today included, so `daily` has exactly N
//! points. Percentiles use the nearest-rank method through `ROW_NUMBER()`/`COUNT(*) OVER`,
//! since MySQL 8 has no `PERCENTILE_CONT`; everything stays inside what both MySQL 8 and
//! MariaDB 10.11 run.
//!
//! - deployments: releases `deployed` with `deployed_at` in the window (rollbacks and
//!   promotions included: each is a deployment);
//! - failed deployments: releases `failed` after SleakOps accepted the deployment
//!   (`sleakops_deployment_id` set), with `finished_at` in the window; and releases
//!   `deployed` that a rollback replaced (a release with `rollback_of` = theirs reached
//!   `deployed`), on the day the (first) rollback was deployed;
//! - lead time: `deployed_at − COALESCE(commit_time, requested_at)`, median and p90 (so it
//!   includes the wait for an approval);
//! - change failure rate: failed / (deployed + failed), where a rolled-back release, already
//!   a deployment, is not counted twice in the denominator;
//! - time to restore: from each failed deployment's `finished_at` to the next `deployed_at`
//!   in the same environment (a rollback is one), and from a rolled-back release's
//!   `deployed_at` to its rollback's; failures not yet restored are left out; median;
//! - approval wait: `decided_at − requested_at` of the releases approved (a decision, and
//!   not `rejected`) with `decided_at` in the window, median.
//!
//! A release that `needs_attention` (its build or deployment outlived the worker's follow
//! deadline) counts in none of them: its outcome is unknown to Faro, so it is neither a
//! deployment nor a failed one, and a person settles it (a retry is a new release).
//! Rejected and expired releases never ran: they count in nothing (a rejection is not an
//! approval wait either).

use super::store;
use crate::openapi::{InvalidInput, NotFound, NotSignedIn};
use crate::projects::{ProjectPath, store::ProjectKey};
use crate::{access::ProjectAccess, auth::Caller, error::ApiError, http::ApiQuery};
use axum::{Json, extract::Path};
use chrono::{DateTime, Days, NaiveDate, Utc};
use faro_types::{DailyCount, DeliveryMetrics, EnvironmentMetrics, Window};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsQuery {
    /// `7d`, `30d` (the default) or `90d`: the last N UTC days, today included.
    #[param(value_type = Option<Window>)]
    window: Option<String>,
}

/// The window's first day and `[start, end)` as instants.
fn bounds(window: Window, today: NaiveDate) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let first = today - Days::new(u64::from(window.days() - 1));
    let start = first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end = (today + Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    (first, start, end)
}

fn secs(value: Option<i64>) -> Option<u64> {
    value.map(|v| v.max(0).unsigned_abs())
}

/// DORA figures per environment of the project.
///
/// Problems, beyond what their status says:
/// - 422: An unknown window.
#[utoipa::path(
    get, path = "/api/projects/{slug}/metrics", tag = "releases",
    params(ProjectPath, MetricsQuery),
    responses(
        (status = 200, description = "Delivery metrics of every environment of the project", body = DeliveryMetrics),
        NotSignedIn, NotFound, InvalidInput,
    )
)]
pub(super) async fn metrics(
    Caller { state, user, .. }: Caller,
    Path(ProjectPath { slug }): Path<ProjectPath>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> Result<Json<DeliveryMetrics>, ApiError> {
    let access = ProjectAccess::load(&state, &user, ProjectKey::Slug(&slug)).await?;
    let window = match query.window.as_deref() {
        None => Window::Days30,
        Some(value) => Window::parse(value)
            .ok_or_else(|| ApiError::field("window", "must be one of 7d, 30d, 90d"))?,
    };
    let (first_day, start, end) = bounds(window, Utc::now().date_naive());
    let covered = store::Window {
        project_id: access.project_id,
        start,
        end,
    };

    let figures = store::figures(&state.db, covered).await?;
    let daily_rows = store::daily_counts(&state.db, covered).await?;
    let mut counts: HashMap<(u64, NaiveDate), (u64, u64)> = HashMap::new();
    for row in &daily_rows {
        let entry = counts.entry((row.environment_id, row.day)).or_default();
        let n = row.n.unsigned_abs();
        if row.kind == "deployed" {
            entry.0 += n;
        } else {
            entry.1 += n;
        }
    }

    let days = window.days();
    let mut environments = Vec::with_capacity(figures.len());
    for row in figures {
        let deployments = row.deployments.unsigned_abs();
        let failed = row.failed_deployments.unsigned_abs();
        // A rolled-back release is one of the deployments already.
        let attempts = deployments + failed - row.rolled_back.unsigned_abs().min(failed);
        let daily = (0..days)
            .map(|offset| {
                let date = first_day + Days::new(u64::from(offset));
                let (deployments, failures) =
                    counts.get(&(row.id, date)).copied().unwrap_or_default();
                DailyCount {
                    date,
                    deployments,
                    failures,
                }
            })
            .collect();
        environments.push(EnvironmentMetrics {
            environment: row.name,
            production: row.production,
            deployments,
            failed_deployments: failed,
            deployments_per_day: deployments as f64 / f64::from(days),
            lead_time_median_secs: secs(row.lead_median),
            lead_time_p90_secs: secs(row.lead_p90),
            change_failure_rate: (attempts > 0).then(|| failed as f64 / attempts as f64),
            time_to_restore_median_secs: secs(row.restore_median),
            approval_wait_median_secs: secs(row.approval_median),
            daily,
        });
    }
    Ok(Json(DeliveryMetrics {
        window,
        environments,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_days_ending_today() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).expect("date");
        let (first, start, end) = bounds(Window::Days7, today);
        assert_eq!(first, NaiveDate::from_ymd_opt(2026, 3, 4).expect("date"));
        assert_eq!(start.to_rfc3339(), "2026-03-04T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-03-11T00:00:00+00:00");
    }
}
