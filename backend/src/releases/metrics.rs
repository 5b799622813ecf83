//! `GET /api/projects/{slug}/metrics`: DORA figures per environment, computed in SQL.
//!
//! The window is the last N UTC calendar days, today included, so `daily` has exactly N
//! points. Percentiles use the nearest-rank method through `ROW_NUMBER()`/`COUNT(*) OVER`,
//! since MySQL 8 has no `PERCENTILE_CONT`; everything stays inside what both MySQL 8 and
//! MariaDB 10.11 run.
//!
//! - deployments: releases `deployed` with `deployed_at` in the window;
//! - failed deployments: releases `failed` after SleakOps accepted the deployment
//!   (`sleakops_deployment_id` set), with `finished_at` in the window;
//! - lead time: `deployed_at − COALESCE(commit_time, requested_at)`, median and p90;
//! - change failure rate: failed / (deployed + failed);
//! - time to restore: from each failed deployment's `finished_at` to the next `deployed_at`
//!   in the same environment (failures not yet restored are left out), median.

use crate::{AppState, access::ProjectAccess, auth::CurrentUser, error::ApiError, http::ApiQuery};
use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use faro_types::{DailyCount, DeliveryMetrics, EnvironmentMetrics, Problem, Window};
use serde::Deserialize;
use sqlx::Row;
use std::collections::HashMap;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsQuery {
    /// `7d`, `30d` (the default) or `90d`: the last N UTC days, today included.
    window: Option<String>,
}

/// One query for the per-environment figures. Binds: project, start, end (deployments);
/// project, start, end (failures); project (environments).
const FIGURES: &str = "
WITH deployed AS (
    SELECT environment_id,
           CAST(GREATEST(0, TIMESTAMPDIFF(SECOND, COALESCE(commit_time, requested_at), deployed_at)) AS SIGNED) AS lead_secs
    FROM releases
    WHERE project_id = ? AND status = 'deployed' AND deployed_at >= ? AND deployed_at < ?
),
lead_ranked AS (
    SELECT environment_id, lead_secs,
           ROW_NUMBER() OVER (PARTITION BY environment_id ORDER BY lead_secs) AS rn,
           COUNT(*) OVER (PARTITION BY environment_id) AS n
    FROM deployed
),
lead_times AS (
    SELECT environment_id,
           MAX(n) AS deployments,
           MAX(CASE WHEN rn = (n + 1) DIV 2 THEN lead_secs END) AS lead_median,
           MAX(CASE WHEN rn = (9 * n + 9) DIV 10 THEN lead_secs END) AS lead_p90
    FROM lead_ranked
    GROUP BY environment_id
),
failed AS (
    SELECT f.environment_id, f.finished_at,
           (SELECT MIN(d.deployed_at) FROM releases d
             WHERE d.environment_id = f.environment_id AND d.status = 'deployed'
               AND d.deployed_at > f.finished_at) AS restored_at
    FROM releases f
    WHERE f.project_id = ? AND f.status = 'failed' AND f.sleakops_deployment_id IS NOT NULL
      AND f.finished_at >= ? AND f.finished_at < ?
),
failures AS (
    SELECT environment_id, COUNT(*) AS failed_deployments
    FROM failed
    GROUP BY environment_id
),
restore_ranked AS (
    SELECT environment_id, restore_secs,
           ROW_NUMBER() OVER (PARTITION BY environment_id ORDER BY restore_secs) AS rn,
           COUNT(*) OVER (PARTITION BY environment_id) AS n
    FROM (
        SELECT environment_id,
               CAST(TIMESTAMPDIFF(SECOND, finished_at, restored_at) AS SIGNED) AS restore_secs
        FROM failed
        WHERE restored_at IS NOT NULL
    ) restored
),
restores AS (
    SELECT environment_id,
           MAX(CASE WHEN rn = (n + 1) DIV 2 THEN restore_secs END) AS restore_median
    FROM restore_ranked
    GROUP BY environment_id
)
SELECT e.id, e.name, e.production,
       CAST(COALESCE(l.deployments, 0) AS SIGNED) AS deployments,
       CAST(COALESCE(f.failed_deployments, 0) AS SIGNED) AS failed_deployments,
       CAST(l.lead_median AS SIGNED) AS lead_median,
       CAST(l.lead_p90 AS SIGNED) AS lead_p90,
       CAST(r.restore_median AS SIGNED) AS restore_median
FROM environments e
LEFT JOIN lead_times l ON l.environment_id = e.id
LEFT JOIN failures f ON f.environment_id = e.id
LEFT JOIN restores r ON r.environment_id = e.id
WHERE e.project_id = ?
ORDER BY e.name";

/// Counts per environment and day; the days without any are filled in Rust.
const DAILY: &str = "
SELECT environment_id, 'deployed' AS kind, DATE(deployed_at) AS day, COUNT(*) AS n
FROM releases
WHERE project_id = ? AND status = 'deployed' AND deployed_at >= ? AND deployed_at < ?
GROUP BY environment_id, DATE(deployed_at)
UNION ALL
SELECT environment_id, 'failed' AS kind, DATE(finished_at) AS day, COUNT(*) AS n
FROM releases
WHERE project_id = ? AND status = 'failed' AND sleakops_deployment_id IS NOT NULL
  AND finished_at >= ? AND finished_at < ?
GROUP BY environment_id, DATE(finished_at)";

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
#[utoipa::path(
    get, path = "/api/projects/{slug}/metrics", tag = "releases",
    params(("slug" = String, Path, description = "The project's slug"), MetricsQuery),
    responses(
        (status = 200, description = "Delivery metrics of every environment of the project", body = DeliveryMetrics),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown window", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn metrics(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> Result<Json<DeliveryMetrics>, ApiError> {
    let access = ProjectAccess::load(&state, &user, &slug).await?;
    let window = match query.window.as_deref() {
        None => Window::Days30,
        Some(value) => Window::parse(value)
            .ok_or_else(|| ApiError::field("window", "must be one of 7d, 30d, 90d"))?,
    };
    let (first_day, start, end) = bounds(window, Utc::now().date_naive());
    let project = access.project_id;

    let figures = sqlx::query(FIGURES)
        .bind(project)
        .bind(start)
        .bind(end)
        .bind(project)
        .bind(start)
        .bind(end)
        .bind(project)
        .fetch_all(&state.db)
        .await?;
    let daily_rows = sqlx::query(DAILY)
        .bind(project)
        .bind(start)
        .bind(end)
        .bind(project)
        .bind(start)
        .bind(end)
        .fetch_all(&state.db)
        .await?;
    let mut counts: HashMap<(u64, NaiveDate), (u64, u64)> = HashMap::new();
    for row in &daily_rows {
        let kind: String = row.try_get("kind")?;
        let n: i64 = row.try_get("n")?;
        let entry = counts
            .entry((row.try_get("environment_id")?, row.try_get("day")?))
            .or_default();
        let n = n.unsigned_abs();
        if kind == "deployed" {
            entry.0 += n;
        } else {
            entry.1 += n;
        }
    }

    let days = window.days();
    let mut environments = Vec::with_capacity(figures.len());
    for row in &figures {
        let id: u64 = row.try_get("id")?;
        let deployments = row.try_get::<i64, _>("deployments")?.unsigned_abs();
        let failed = row.try_get::<i64, _>("failed_deployments")?.unsigned_abs();
        let attempts = deployments + failed;
        let daily = (0..days)
            .map(|offset| {
                let date = first_day + Days::new(u64::from(offset));
                let (deployments, failures) = counts.get(&(id, date)).copied().unwrap_or_default();
                DailyCount {
                    date,
                    deployments,
                    failures,
                }
            })
            .collect();
        environments.push(EnvironmentMetrics {
            environment: row.try_get("name")?,
            production: row.try_get("production")?,
            deployments,
            failed_deployments: failed,
            deployments_per_day: deployments as f64 / f64::from(days),
            lead_time_median_secs: secs(row.try_get("lead_median")?),
            lead_time_p90_secs: secs(row.try_get("lead_p90")?),
            change_failure_rate: (attempts > 0).then(|| failed as f64 / attempts as f64),
            time_to_restore_median_secs: secs(row.try_get("restore_median")?),
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
