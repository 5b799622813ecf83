//! Small SVG charts, drawn by us (no chart library, nothing from a CDN).

use crate::state::chart;
use crate::state::format;
use faro_types::EnvironmentMetrics;
use leptos::prelude::*;

const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 48.0;

/// Deployments per day, failures stacked below in the failure colour.
#[component]
pub fn DailyBars(metrics: EnvironmentMetrics) -> impl IntoView {
    let bars = chart::daily_bars(&metrics.daily, WIDTH, HEIGHT);
    let summary = chart::summary(&metrics.daily);
    view! {
        <svg
            class="trend"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            preserveAspectRatio="none"
            role="img"
            aria-label=summary.clone()
        >
            <title>{summary.clone()}</title>
            <line class="axis" x1="0" y1=HEIGHT x2=WIDTH y2=HEIGHT></line>
            {bars
                .into_iter()
                .map(|bar| {
                    let (x, width) = (bar.x, bar.width);
                    let rect = move |class: &'static str, y: f64, height: f64| {
                        view! { <rect class=class x=x y=y width=width height=height></rect> }
                    };
                    view! {
                        <g>
                            <title>{bar.label}</title>
                            {rect("bar-ok", bar.deployments_y, bar.deployments_height)}
                            {rect("bar-failed", bar.failures_y, bar.failures_height)}
                        </g>
                    }
                })
                .collect_view()}
        </svg>
    }
}

/// One environment's DORA figures with its trend.
#[component]
pub fn MetricCard(project: String, metrics: EnvironmentMetrics) -> impl IntoView {
    let lead = metrics
        .lead_time_median_secs
        .map(format::duration)
        .unwrap_or_else(|| "—".into());
    let cfr = metrics
        .change_failure_rate
        .map(format::percent)
        .unwrap_or_else(|| "—".into());
    let restore = metrics
        .time_to_restore_median_secs
        .map(format::duration)
        .unwrap_or_else(|| "—".into());
    let title = format!("{project} · {}", metrics.environment);
    view! {
        <article class="card metric-card" aria-label=title.clone()>
            <header class="card-head">
                <h3>{title.clone()}</h3>
                {metrics.production.then_some(view! { <span class="tag">"production"</span> })}
            </header>
            <dl class="figures">
                <div><dt>"Deploy frequency"</dt><dd>{format::per_day(metrics.deployments_per_day)}</dd></div>
                <div><dt>"Lead time (median)"</dt><dd>{lead}</dd></div>
                <div><dt>"Change failure rate"</dt><dd>{cfr}</dd></div>
                <div><dt>"Time to restore"</dt><dd>{restore}</dd></div>
                {metrics.approval_wait_median_secs.map(|wait| view! {
                    <div class="approval-wait"><dt>"Approval wait (median)"</dt><dd>{format::duration(wait)}</dd></div>
                })}
            </dl>
            <DailyBars metrics=metrics.clone()/>
            <p class="muted small">
                {format!(
                    "{} · {}",
                    format::count(metrics.deployments, "deployment", "deployments"),
                    format::count(metrics.failed_deployments, "failure", "failures")
                )}
            </p>
        </article>
    }
}
