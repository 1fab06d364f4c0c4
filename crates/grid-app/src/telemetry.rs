//! Logging setup: `tracing` everywhere, JSON lines on Lambda, readable lines locally.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. The levels come from `RUST_LOG`
/// (`level` or `target=level` directives, comma-separated), else `default_filter`
/// (e.g. `info`). Calling it twice is harmless: the second call keeps the first
/// subscriber.
///
/// A `Targets` filter rather than an `EnvFilter`: it takes the directives operators
/// use, without the regex engine span-field filters need, which kept the HTTP
/// functions' zips over 5 MB.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .or_else(|| default_filter.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let layer = fmt::layer().with_target(true).with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Json => layer.json().flatten_event(true).with_current_span(true).boxed(),
        LogFormat::Pretty => layer.boxed(),
    };
    let _already_set = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
}

pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
