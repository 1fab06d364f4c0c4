//! Logging setup: `tracing` everywhere, JSON lines on Lambda, readable lines locally.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. The levels come from `RUST_LOG`
/// (`level` or `target=level` directives, comma-separated), else from Lambda's
/// `AWS_LAMBDA_LOG_LEVEL` (the template's `LoggingConfig`), else `default_filter` (e.g.
/// `info`). Calling it twice is harmless: the second call keeps the first
/// subscriber.
///
/// A `Targets` filter rather than an `EnvFilter`: it takes the directives operators
/// use, without the regex engine span-field filters need, which kept the HTTP
/// functions' zips over 5 MB.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().and_then(|level| lambda_level(&level)))
        .or_else(|| default_filter.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let layer = fmt::layer().with_target(true).with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Json => layer.json().flatten_event(true).with_current_span(true).boxed(),
        LogFormat::Pretty => layer.boxed(),
    };
    let _already_set = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
}

/// Lambda's application log level (`LoggingConfig`), as a filter: `FATAL` is `error`.
fn lambda_level(level: &str) -> Option<Targets> {
    let level = match level.to_ascii_uppercase().as_str() {
        "TRACE" => tracing::Level::TRACE,
        "DEBUG" => tracing::Level::DEBUG,
        "INFO" => tracing::Level::INFO,
        "WARN" => tracing::Level::WARN,
        "ERROR" | "FATAL" => tracing::Level::ERROR,
        _ => return None,
    };
    Some(Targets::new().with_default(level))
}

/// An error and its causes on one line (grid-http's, shared with the agents).
pub use grid_http::cause_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_log_levels_become_filters() {
        for (level, most_verbose) in [
            ("TRACE", tracing::Level::TRACE),
            ("DEBUG", tracing::Level::DEBUG),
            ("INFO", tracing::Level::INFO),
            ("WARN", tracing::Level::WARN),
            ("ERROR", tracing::Level::ERROR),
            ("FATAL", tracing::Level::ERROR),
        ] {
            let filter = lambda_level(level).unwrap();
            assert!(filter.would_enable("grid_app", &most_verbose), "{level}");
            if most_verbose != tracing::Level::TRACE {
                assert!(!filter.would_enable("grid_app", &tracing::Level::TRACE), "{level}");
            }
        }
        assert!(lambda_level("LOUD").is_none());
    }
}
