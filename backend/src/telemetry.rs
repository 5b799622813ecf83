//! Logs: one JSON object per line in containers (CloudWatch via awslogs), readable lines in dev.

use crate::config::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// `RUST_LOG`'s default, as listed with the other variables.
const DEFAULT_FILTER: &str = match faro_config_vars::RUST_LOG.default {
    faro_config_vars::Fallback::Value(filter) => filter,
    _ => panic!("RUST_LOG is listed with a default"),
};

/// Installs the global subscriber; `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_target(true),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).try_init(),
    };
    // A second init (tests starting several apps) keeps the first subscriber.
    drop(result);
}
