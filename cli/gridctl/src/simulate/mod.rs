//! `gridctl simulate`: "with 40 homes, 15 of them with solar, under our tariff, what would
//! we save in a year?" — a community backtested period by period through the very
//! settlement code of grid-core (`grid_core::market::settle`), with no I/O in the loop.
//!
//! Each home uses the BDEW H0 standard household profile scaled to its yearly use (seeded
//! ±30 %, and a little noise per period); a share of them have panels (`--kwp`, seeded
//! ±25 %) under a seeded sky ([`profiles`]); they sell what they do not use at `--ask`,
//! and a share of the others bid (`--bid`). The tariff is the grid's own settings
//! (`PRICE_CAP`, `FEED_IN_PRICE`, `TARIFF_TIMEZONE`, `GRID_FEE_BPS`, read as `serve`
//! reads them; by default a German time-of-use tariff). It prints per month the
//! community's self-sufficiency and self-consumption, the energy matched, imported and
//! exported, the members' savings, the sellers' gains and the grid's fees, checks that
//! every month's energy adds up, and writes the months as CSV and as an SVG chart. The
//! same seed gives the same output.

mod profiles;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use grid_app::GridConfig;
use grid_core::market::{PeriodStart, PeriodTotals, settle};
use grid_core::{ItemType, Price, RegistrationId, Wh};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use profiles::{LoadProfile, Sky, unit};

#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Homes in the community.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub homes: u32,
    /// The share of the homes with panels on their roofs, 0 to 1.
    #[arg(long, default_value_t = 0.375, value_parser = share)]
    pub solar_share: f64,
    /// A home's panels, kWp (each home's seeded ±25 %).
    #[arg(long, default_value_t = 6.0, value_parser = positive)]
    pub kwp: f64,
    /// The share of the homes without panels that bid for local energy, 0 to 1.
    #[arg(long, default_value_t = 0.3, value_parser = share)]
    pub bidders: f64,
    /// What a home with panels asks for the energy it sells, IOTA/kWh.
    #[arg(long, default_value_t = 120)]
    pub ask: u64,
    /// What a bidding home bids, IOTA/kWh (the others take local energy up to the cap).
    #[arg(long, default_value_t = 200)]
    pub bid: u64,
    /// A home's yearly use, kWh (each home's seeded ±30 %).
    #[arg(long, default_value_t = 3500.0, value_parser = positive)]
    pub yearly_kwh: f64,
    /// The first day, YYYY-MM-DD, in the tariff's time zone.
    #[arg(long, default_value = "2026-01-01")]
    pub start: jiff::civil::Date,
    /// How many days to simulate (1 to 366).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// Where the sun is: latitude and longitude in degrees (default: the middle of Germany).
    #[arg(long, default_value_t = 51.0, allow_negative_numbers = true)]
    pub latitude: f64,
    #[arg(long, default_value_t = 10.5, allow_negative_numbers = true)]
    pub longitude: f64,
    /// The settlement period, seconds (as SETTLEMENT_PERIOD_SECS).
    #[arg(long, default_value_t = 900)]
    pub period_secs: u64,
    /// Seeds every draw: the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write `simulate.csv` and `simulate.svg`.
    #[arg(long, default_value = "target/simulate")]
    pub out: PathBuf,
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{text:?} is not a share from 0 to 1")),
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1_000_000.0 => Ok(x),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

/// The tariff a simulation runs under when the environment sets none: a German
/// household's time-of-use price (IOTA/kWh) and a feed-in, on Berlin's clock.
const DEFAULT_TARIFF: [(&str, &str); 3] =
    [("PRICE_CAP", "00:00=250,06:00=320,21:00=250"), ("FEED_IN_PRICE", "80"), ("TARIFF_TIMEZONE", "Europe/Berlin")];

/// One simulated home.
struct Home {
    id: RegistrationId,
    kind: ItemType,
    /// Its yearly use's share of the profile's year, and its panels (kWp; 0 without).
    scale: f64,
    kwp: f64,
    bid: Option<Price>,
}

/// A month's figures: energy in Wh, money in IOTA.
#[derive(Debug, Default, Clone)]
pub struct Month {
    pub label: String,
    pub used: u64,
    pub produced: u64,
    pub self_consumed: u64,
    pub matched: u64,
    pub imported: u64,
    pub exported: u64,
    pub revenue: u64,
    pub fees: u64,
    pub savings: u64,
    pub gains: i64,
}

impl Month {
    /// `floor(10000 · (selfConsumed + matched) / whole)`.
    fn bps(&self, whole: u64) -> u64 {
        (u128::from(self.self_consumed + self.matched) * 10_000).checked_div(u128::from(whole)).unwrap_or(0) as u64
    }

    /// Every Wh used came from the home's own panels, its neighbours or its utility.
    pub fn adds_up(&self) -> bool {
        self.self_consumed + self.matched + self.imported == self.used
            && self.self_consumed + self.matched + self.exported == self.produced
    }
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let months = simulate(&args)?;
    print(&args, &months);
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let csv = args.out.join("simulate.csv");
    std::fs::write(&csv, months_csv(&months)?).with_context(|| format!("cannot write {}", csv.display()))?;
    let svg = args.out.join("simulate.svg");
    std::fs::write(&svg, chart(&months)).with_context(|| format!("cannot write {}", svg.display()))?;
    say!("\nwrote {} and {} ({:.1} s)", csv.display(), svg.display(), started.elapsed().as_secs_f64());
    anyhow::ensure!(months.iter().all(Month::adds_up), "a month's energy does not add up (see above)");
    Ok(())
}

/// The community's months, period by period through grid-core's settlement.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<Vec<Month>> {
    let mut vars: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| {
            ["PRICE_CAP", "FEED_IN_PRICE", "TARIFF_TIMEZONE", "GRID_FEE_BPS", "CONSENSUS_STRATEGY"]
                .contains(&k.as_str())
        })
        .collect();
    if !vars.contains_key("PRICE_CAP") && !vars.contains_key("FEED_IN_PRICE") && !vars.contains_key("TARIFF_TIMEZONE") {
        vars.extend(DEFAULT_TARIFF.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
    vars.insert("SETTLEMENT_PERIOD_SECS".to_owned(), args.period_secs.to_string());
    let config = GridConfig::from_vars(&vars).context("bad tariff settings")?;
    let market = &config.market;
    let zone = TimeZone::get(market.tariff.zone.name()).context("the tariff's time zone")?;
    let ask = Price::parse(args.ask).context("--ask")?;
    let bid = Price::parse(args.bid).context("--bid")?;

    let period_ms = market.period.ms();
    let first = args.start.to_zoned(zone.clone()).context("--start")?.timestamp().as_millisecond();
    let start = u64::try_from(first).context("--start is before 1970")?;
    let start = start - start % period_ms;
    let end = start + u64::from(args.days) * 86_400_000;
    let profile = LoadProfile::bdew_h0();
    let sky = Sky { latitude: args.latitude, longitude: args.longitude, seed: args.seed };
    let at = |ms: u64| Timestamp::from_millisecond(ms as i64).expect("a simulated time is valid");

    // The profile's energy over a year (per unit of its values), to scale homes by.
    let year: f64 = (0..365 * 96u64).map(|q| profile.at(at(start + q * 900_000), &zone) * 0.25).sum();
    let solar_homes = (f64::from(args.homes) * args.solar_share).round() as u32;
    let homes: Vec<Home> = (0..args.homes)
        .map(|h| {
            let draw = |k: u64| unit(args.seed, u64::from(h), k);
            let solar = h < solar_homes;
            let kind = if solar { ItemType::Prosumer } else { ItemType::Consumer };
            Home {
                id: RegistrationId::parse(format!("{}-{:04}", kind.as_str(), h + 1)).expect("a valid id"),
                kind,
                scale: args.yearly_kwh * (0.7 + 0.6 * draw(1)) / year,
                kwp: if solar { args.kwp * (0.75 + 0.5 * draw(2)) } else { 0.0 },
                bid: (!solar && draw(3) < args.bidders).then_some(bid),
            }
        })
        .collect();

    let mut months: Vec<Month> = Vec::new();
    let hours = period_ms as f64 / 3_600_000.0;
    let mut last_price = None;
    for period in (start..end).step_by(period_ms as usize) {
        let label = at(period).to_zoned(zone.clone()).strftime("%Y-%m").to_string();
        let base_load = profile.at(at(period), &zone);
        let sun = sky.yield_at(period + period_ms / 2);
        let mut totals = PeriodTotals::default();
        for (h, home) in homes.iter().enumerate() {
            let noise = 0.8 + 0.4 * unit(args.seed, h as u64, period / 60_000);
            // kWh to Wh: the profile's power (per its year's energy) times the period.
            let used = (home.scale * base_load * noise * hours * 1000.0).round() as u64;
            totals.add_bid(home.id.clone(), Wh::new(used), home.bid)?;
            if home.kwp > 0.0 {
                let made = (home.kwp * sun * hours * 1000.0).round() as u64;
                totals.add_output(home.id.clone(), Wh::new(made), ask)?;
            }
            totals.set_kind(home.id.clone(), home.kind);
        }
        let policy = market.policy_at(PeriodStart::parse(period)?);
        let s = settle(&totals, last_price, &policy)?;
        last_price = Some(s.price);
        if months.last().is_none_or(|m| m.label != label) {
            months.push(Month { label, ..Month::default() });
        }
        let m = months.last_mut().expect("just pushed");
        m.used += s.used.get();
        m.produced += s.produced.get();
        m.self_consumed += s.self_consumed.get();
        m.matched += s.matched.get();
        m.imported += s.imported.get();
        m.exported += s.exported.get();
        m.revenue += s.revenue.get();
        m.fees += s.fee.get();
        m.savings += s.savings.get();
        m.gains += s.gains;
    }
    Ok(months)
}

fn kwh(wh: u64) -> String {
    format!("{:.0}", wh as f64 / 1000.0)
}

fn percent(bps: u64) -> String {
    format!("{}.{}%", bps / 100, bps % 100 / 10)
}

fn print(args: &SimulateArgs, months: &[Month]) {
    let solar = (f64::from(args.homes) * args.solar_share).round();
    say!(
        "A community of {} homes, {} of them with about {} kWp of panels, from {} for {} days (seed {}); energy in \
         kWh, money in IOTA\n",
        args.homes,
        solar,
        args.kwp,
        args.start,
        args.days,
        args.seed
    );
    say!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>9}  adds up",
        "month",
        "self-suff",
        "self-cons",
        "used",
        "own",
        "matched",
        "imported",
        "produced",
        "exported",
        "savings",
        "gains",
        "fees"
    );
    let mut year = Month { label: "all".to_owned(), ..Month::default() };
    for m in months {
        line(m);
        year.used += m.used;
        year.produced += m.produced;
        year.self_consumed += m.self_consumed;
        year.matched += m.matched;
        year.imported += m.imported;
        year.exported += m.exported;
        year.revenue += m.revenue;
        year.fees += m.fees;
        year.savings += m.savings;
        year.gains += m.gains;
    }
    line(&year);
}

fn line(m: &Month) {
    say!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>9}  {}",
        m.label,
        percent(m.bps(m.used)),
        percent(m.bps(m.produced)),
        kwh(m.used),
        kwh(m.self_consumed),
        kwh(m.matched),
        kwh(m.imported),
        kwh(m.produced),
        kwh(m.exported),
        m.savings,
        m.gains,
        m.fees,
        if m.adds_up() { "✓" } else { "✗" }
    );
}

fn months_csv(months: &[Month]) -> anyhow::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "month",
        "self_sufficiency_bps",
        "self_consumption_bps",
        "used_wh",
        "self_consumed_wh",
        "matched_wh",
        "imported_wh",
        "produced_wh",
        "exported_wh",
        "revenue_iota",
        "fees_iota",
        "savings_iota",
        "gains_iota",
    ])?;
    for m in months {
        out.write_record([
            m.label.clone(),
            m.bps(m.used).to_string(),
            m.bps(m.produced).to_string(),
            m.used.to_string(),
            m.self_consumed.to_string(),
            m.matched.to_string(),
            m.imported.to_string(),
            m.produced.to_string(),
            m.exported.to_string(),
            m.revenue.to_string(),
            m.fees.to_string(),
            m.savings.to_string(),
            m.gains.to_string(),
        ])?;
    }
    Ok(out.into_inner().map_err(|e| e.into_error())?)
}

/// The months as a standalone SVG: what the community used each month, stacked by where
/// it came from (own panels, neighbours, utility), with its self-sufficiency above.
fn chart(months: &[Month]) -> String {
    const COLOURS: [&str; 3] = ["#0f7b6c", "#0b6e99", "#d9730d"];
    let (width, height, left, bottom, top) = (720.0, 320.0, 64.0, 40.0, 40.0);
    let max = months.iter().map(|m| m.used).max().unwrap_or(0).max(1) as f64;
    let plot = height - bottom - top;
    let slot = (width - left - 16.0) / months.len().max(1) as f64;
    let bar = slot * 0.7;
    let mut body = String::new();
    for (i, m) in months.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - bar) / 2.0;
        let mut y = height - bottom;
        for (k, wh) in [m.self_consumed, m.matched, m.imported].into_iter().enumerate() {
            let h = wh as f64 / max * plot;
            y -= h;
            body.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {} kWh</title></rect>\n",
                COLOURS[k],
                m.label,
                ["own panels", "neighbours", "utility"][k],
                kwh(wh)
            ));
        }
        body.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n",
            x + bar / 2.0,
            y - 4.0,
            percent(m.bps(m.used))
        ));
        body.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n",
            x + bar / 2.0,
            height - bottom + 14.0,
            &m.label[m.label.len().saturating_sub(2)..]
        ));
    }
    let legend: String = ["own panels", "neighbours", "utility"]
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let x = left + k as f64 * 120.0;
            format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{name}</text>\n",
                height - 16.0,
                COLOURS[k],
                x + 16.0,
                height - 6.0
            )
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" role=\"img\">\n\
         <title>Energy the community used each month, by where it came from, with its self-sufficiency</title>\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">kWh used per month: own panels, neighbours, utility (self-sufficiency above)</text>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#555\"/>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">0</text>\n{body}{legend}</svg>\n",
        height - bottom,
        height - bottom,
        width - 16.0,
        height - bottom,
        left - 6.0,
        top + 4.0,
        kwh(max as u64),
        left - 6.0,
        height - bottom,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(homes: u32, days: u32) -> SimulateArgs {
        SimulateArgs {
            homes,
            solar_share: 0.4,
            kwp: 6.0,
            bidders: 0.3,
            ask: 120,
            bid: 200,
            yearly_kwh: 3500.0,
            start: "2026-06-01".parse().unwrap(),
            days,
            latitude: 51.0,
            longitude: 10.5,
            period_secs: 900,
            seed: 7,
            out: PathBuf::from("unused"),
        }
    }

    #[test]
    fn every_month_adds_up_and_the_same_seed_gives_the_same_months() {
        let a = simulate(&args(12, 45)).unwrap();
        assert_eq!(a.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(), ["2026-06", "2026-07"]);
        for m in &a {
            assert!(m.adds_up(), "{m:?}");
            assert!(m.self_consumed > 0 && m.matched > 0 && m.imported > 0 && m.exported > 0, "{m:?}");
            assert!(m.savings > 0 && m.fees > 0, "{m:?}");
        }
        let b = simulate(&args(12, 45)).unwrap();
        assert_eq!(months_csv(&a).unwrap(), months_csv(&b).unwrap());
        let mut other = args(12, 45);
        other.seed = 8;
        assert_ne!(months_csv(&a).unwrap(), months_csv(&simulate(&other).unwrap()).unwrap());
    }

    #[test]
    fn a_year_of_homes_uses_about_what_they_were_sized_for() {
        let mut year = args(20, 365);
        year.start = "2026-01-01".parse().unwrap();
        year.solar_share = 0.0;
        let months = simulate(&year).unwrap();
        assert_eq!(months.len(), 12);
        let used_kwh = months.iter().map(|m| m.used).sum::<u64>() as f64 / 1000.0;
        // 20 homes of 3,500 kWh ± 30 % (mean 3,500), with ±20 % noise per period.
        assert!((60_000.0..80_000.0).contains(&used_kwh), "{used_kwh}");
        assert!(months.iter().all(|m| m.produced == 0 && m.matched == 0 && m.imported == m.used));
        let (january, july) = (months[0].used as f64 / 31.0, months[6].used as f64 / 31.0);
        assert!(january > july, "more a day in winter: {january} {july}");
    }
}
