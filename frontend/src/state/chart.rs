//! The geometry of the small trend charts (drawn as SVG by `ui::chart`): pure numbers, so
//! they are tested without a browser.

use faro_types::DailyCount;

/// One day's bar: successful deployments stacked on failures.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub width: f64,
    /// Top of the failures part and its height (drawn at the bottom).
    pub failures_y: f64,
    pub failures_height: f64,
    /// Top of the deployments part and its height (drawn above the failures).
    pub deployments_y: f64,
    pub deployments_height: f64,
    /// `2026-11-28: 3 deployed, 1 failed`.
    pub label: String,
}

/// Bars for each day in a `width` × `height` box; the tallest day fills the height.
pub fn daily_bars(days: &[DailyCount], width: f64, height: f64) -> Vec<Bar> {
    if days.is_empty() {
        return Vec::new();
    }
    let peak = days
        .iter()
        .map(|d| d.deployments + d.failures)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = width / days.len() as f64;
    // A gap between bars while they are wide enough to keep one.
    let gap = if slot >= 4.0 { slot * 0.2 } else { 0.0 };
    days.iter()
        .enumerate()
        .map(|(i, day)| {
            let failures_height = day.failures as f64 / peak * height;
            let deployments_height = day.deployments as f64 / peak * height;
            Bar {
                x: i as f64 * slot + gap / 2.0,
                width: slot - gap,
                failures_y: height - failures_height,
                failures_height,
                deployments_y: height - failures_height - deployments_height,
                deployments_height,
                label: format!(
                    "{}: {} deployed, {} failed",
                    day.date, day.deployments, day.failures
                ),
            }
        })
        .collect()
}

/// A one-sentence summary of the chart for screen readers.
pub fn summary(days: &[DailyCount]) -> String {
    let deployed: u64 = days.iter().map(|d| d.deployments).sum();
    let failed: u64 = days.iter().map(|d| d.failures).sum();
    let busiest = days
        .iter()
        .max_by_key(|d| d.deployments)
        .filter(|d| d.deployments > 0);
    let mut text = format!(
        "Deployments per day over {} days: {deployed} deployed, {failed} failed",
        days.len()
    );
    if let Some(day) = busiest {
        text.push_str(&format!(
            "; busiest day {} with {}",
            day.date, day.deployments
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32, deployments: u64, failures: u64) -> DailyCount {
        DailyCount {
            date: NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
            deployments,
            failures,
        }
    }

    #[test]
    fn the_tallest_day_fills_the_box_and_bars_stack() {
        let bars = daily_bars(&[day(1, 0, 0), day(2, 3, 1), day(3, 2, 0)], 30.0, 20.0);
        assert_eq!(bars.len(), 3);
        let tall = &bars[1];
        assert_eq!(tall.failures_height, 5.0);
        assert_eq!(tall.failures_y, 15.0);
        assert_eq!(tall.deployments_height, 15.0);
        assert_eq!(tall.deployments_y, 0.0, "reaches the top");
        assert_eq!(bars[0].deployments_height + bars[0].failures_height, 0.0);
        assert_eq!(bars[2].deployments_height, 10.0);
        // slots of 10 with a 2-wide gap
        assert_eq!((bars[2].x, bars[2].width), (21.0, 8.0));
        assert_eq!(bars[1].label, "2026-11-02: 3 deployed, 1 failed");
    }

    #[test]
    fn empty_and_quiet_windows() {
        assert!(daily_bars(&[], 100.0, 20.0).is_empty());
        let quiet = daily_bars(&vec![day(1, 0, 0); 90], 90.0, 20.0);
        assert!(quiet.iter().all(|b| b.deployments_height == 0.0));
        assert_eq!(quiet[1].x, 1.0, "narrow slots have no gap");
        assert_eq!(
            summary(&[day(1, 0, 0), day(2, 4, 1)]),
            "Deployments per day over 2 days: 4 deployed, 1 failed; busiest day 2026-11-02 with 4"
        );
        assert_eq!(
            summary(&[day(1, 0, 0)]),
            "Deployments per day over 1 days: 0 deployed, 0 failed"
        );
    }
}
