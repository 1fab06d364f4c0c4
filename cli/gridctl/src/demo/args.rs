//! The demo's command line: how many of each party, the period and the pace, the soak's
//! faults and load, and the scenario that sizes supply against demand. Apart from the
//! flow so that what a user can ask for, and its bounds, read in one place.

use std::net::SocketAddr;
use std::path::PathBuf;

use grid_core::Price;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {
    /// Address the demo grid listens on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(super) listen: SocketAddr,
    /// Keep the demo's data here instead of in a temporary directory.
    #[arg(long)]
    pub(super) data_dir: Option<PathBuf>,
    /// Producers, each with its own registration API for its sources.
    #[arg(long, default_value_t = 3)]
    pub(super) producers: usize,
    /// Sources (solar panels) per producer.
    #[arg(long, default_value_t = 2)]
    pub(super) sources: usize,
    /// Consumers.
    #[arg(long, default_value_t = 5)]
    pub(super) consumers: usize,
    /// Settlement period, e.g. 15m, 900s or 1h (60 s to a day, dividing a day).
    #[arg(long, default_value = "15m", value_parser = parse_period)]
    pub(super) period: u64,
    /// How many periods to trade.
    #[arg(long, default_value_t = 6)]
    pub(super) periods: u64,
    /// Real milliseconds between simulated steps, to watch it happen.
    #[arg(long, default_value_t = 120)]
    pub(super) pace_ms: u64,
    /// Keep the grid serving after the summary, until Ctrl-C.
    #[arg(long)]
    pub(super) keep_running: bool,
    /// Also write the summary as JSON here.
    #[arg(long)]
    pub(super) summary_json: Option<PathBuf>,
    /// Chance (0–0.5) that a ledger request fails with 503, and that a status query
    /// reports a known batch `UNKNOWN` (a soak under ledger faults).
    #[arg(long, default_value_t = 0.0)]
    pub(super) ledger_faults: f64,
    /// HTTP clients storing and reading storage items meanwhile (a soak under load).
    #[arg(long, default_value_t = 0)]
    pub(super) storage_clients: usize,
    /// How supply compares with demand: `balanced` (the default morning), `shortage`
    /// (small panels, hungry households: most energy is imported), `surplus` (big
    /// panels, frugal households: most is exported) or `community` (every third household
    /// a prosumer with panels on its roof, every fourth bidding, under a time-of-use
    /// tariff unless the environment sets one).
    #[arg(long, value_enum, default_value_t = Scenario::Balanced)]
    pub(super) scenario: Scenario,
}

impl DemoArgs {
    /// The bounds the flags must keep.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.producers >= 1 && self.producers <= 50, "--producers must be between 1 and 50");
        anyhow::ensure!(self.sources >= 1 && self.sources <= 20, "--sources must be between 1 and 20");
        anyhow::ensure!(self.consumers >= 1 && self.consumers <= 200, "--consumers must be between 1 and 200");
        anyhow::ensure!((1..=96).contains(&self.periods), "--periods must be between 1 and 96");
        anyhow::ensure!((0.0..=0.5).contains(&self.ledger_faults), "--ledger-faults must be between 0 and 0.5");
        anyhow::ensure!(self.storage_clients <= 64, "--storage-clients must be at most 64");
        Ok(())
    }
}

/// How supply compares with demand in the demo.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Scenario {
    Balanced,
    Shortage,
    Surplus,
    Community,
}

impl Scenario {
    /// Factors on the panels' peak power and on the households' use.
    pub(super) fn scales(self) -> (f64, f64) {
        match self {
            Self::Balanced => (1.0, 2.0),
            Self::Shortage => (0.25, 3.0),
            Self::Surplus => (2.0, 0.4),
            Self::Community => (0.5, 1.0),
        }
    }

    /// Household `c` of the community: its panels' peak (a prosumer) and its bid.
    pub(super) fn home(self, c: usize) -> (Option<f64>, Option<Price>) {
        if self != Self::Community {
            return (None, None);
        }
        let panels = c.is_multiple_of(3).then_some(4.0);
        let bid = (c % 4 == 1).then(|| Price::parse(COMMUNITY_BID).expect("a small price"));
        (panels, bid)
    }
}

/// The community's tariff, where the environment sets none: dearer by day, and a feed-in.
pub(super) const COMMUNITY_TARIFF: [(&str, &str); 2] =
    [("PRICE_CAP", "00:00=180,07:00=260,21:00=180"), ("FEED_IN_PRICE", "60")];
/// What bidding households pay at most for local energy, and what prosumers ask.
const COMMUNITY_BID: u64 = 120;
pub(super) const PROSUMER_PRICE: u64 = 100;

/// `15m`, `900s`, `1h` or plain seconds, as seconds.
fn parse_period(text: &str) -> Result<u64, String> {
    let (number, unit) =
        text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 15m, 900s or 1h"))?;
    match unit {
        "" | "s" => Ok(value),
        "m" => Ok(value * 60),
        "h" => Ok(value * 3600),
        _ => Err(format!("{text:?}: the unit must be s, m or h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_like_durations() {
        assert_eq!(parse_period("15m"), Ok(900));
        assert_eq!(parse_period("900s"), Ok(900));
        assert_eq!(parse_period("1h"), Ok(3600));
        assert_eq!(parse_period("60"), Ok(60));
        assert!(parse_period("10 days").is_err());
        assert!(parse_period("m").is_err());
    }
}
