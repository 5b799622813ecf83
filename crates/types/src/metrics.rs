use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The periods delivery metrics are computed over (`?window=7d|30d|90d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Window {
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "30d")]
    Days30,
    #[serde(rename = "90d")]
    Days90,
}

impl Window {
    pub fn days(self) -> u32 {
        match self {
            Self::Days7 => 7,
            Self::Days30 => 30,
            Self::Days90 => 90,
        }
    }

    /// `7d`, `30d` or `90d`: the number of days and a `d`.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Days7, Self::Days30, Self::Days90]
            .into_iter()
            .find(|window| value.strip_suffix('d') == Some(&window.days().to_string()))
    }
}

/// DORA figures for one environment over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvironmentMetrics {
    pub environment: String,
    pub production: bool,
    /// Successful deployments in the window.
    pub deployments: u64,
    /// Deployments that failed once the deployment had started, and deployed releases a
    /// rollback replaced.
    pub failed_deployments: u64,
    pub deployments_per_day: f64,
    /// Commit (or request) to deployed, in seconds.
    pub lead_time_median_secs: Option<u64>,
    pub lead_time_p90_secs: Option<u64>,
    /// failed / (deployed + failed), a rolled-back release counted once; absent without
    /// deployments.
    pub change_failure_rate: Option<f64>,
    /// From a failed deployment to the next successful one, or from a rolled-back release's
    /// deployment to its rollback's, median, in seconds.
    pub time_to_restore_median_secs: Option<u64>,
    /// From the request to the approval of releases approved in the window, median, in
    /// seconds; absent without any.
    pub approval_wait_median_secs: Option<u64>,
    /// One point per day of the window, oldest first, for trend charts.
    pub daily: Vec<DailyCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyCount {
    pub date: NaiveDate,
    pub deployments: u64,
    pub failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryMetrics {
    pub window: Window,
    pub environments: Vec<EnvironmentMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_from_their_serde_names() {
        for window in [Window::Days7, Window::Days30, Window::Days90] {
            let name = serde_json::to_value(window).expect("serializes");
            assert_eq!(
                Window::parse(name.as_str().expect("a string")),
                Some(window)
            );
        }
        for other in ["1d", "7", "d", "07d", "30D", ""] {
            assert_eq!(Window::parse(other), None, "{other}");
        }
    }
}
