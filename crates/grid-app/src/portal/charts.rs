//! The portal's charts, drawn on the server as inline SVG: no script, no library, and
//! nothing a strict CSP has to allow. Each chart has a title and a description for
//! screen readers, and the tables beside it carry the same numbers.

use maud::{Markup, html};

use super::data::{ConsumerRow, PeriodPoint};

/// Colours with enough contrast on white, told apart by most colour-blind eyes.
const PALETTE: [&str; 8] = ["#0b6e99", "#d9730d", "#0f7b6c", "#9065b0", "#c4554d", "#5f6b00", "#3d5a80", "#8c564b"];

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

fn hour_minute(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

fn kwh(wh: u64) -> String {
    format!("{:.1}", wh as f64 / 1000.0)
}

/// Energy offered per period, stacked by producer.
pub fn energy_by_producer(periods: &[PeriodPoint]) -> Markup {
    let mut producers: Vec<&String> = periods.iter().flat_map(|p| p.produced_by.keys()).collect();
    producers.sort();
    producers.dedup();
    let max = periods.iter().map(|p| p.produced_by.values().sum::<u64>()).max().unwrap_or(0).max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / periods.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    // Each period's bar, its producers stacked from the bottom: (x, y, height, colour, label).
    let mut rects = Vec::new();
    let mut labels = Vec::new();
    for (i, period) in periods.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
        let mut y = HEIGHT - BOTTOM;
        for (p, producer) in producers.iter().enumerate() {
            let wh = period.produced_by.get(*producer).copied().unwrap_or(0);
            if wh > 0 {
                let h = wh as f64 / max * plot;
                y -= h;
                let label = format!("{} {}: {} kWh", hour_minute(period.start), producer, kwh(wh));
                rects.push((x, y, h, colour(p), label));
            }
        }
        if i == 0 || i + 1 == periods.len() || periods.len() <= 8 {
            labels.push((x + bar / 2.0, hour_minute(period.start)));
        }
    }
    bars(Bars {
        id: "energy",
        title: "Energy produced per period, by producer (kWh)".to_owned(),
        desc: format!("{} periods; the highest total is {} kWh.", periods.len(), kwh(max as u64)),
        top: kwh(max as u64),
        bar,
        rects,
        labels,
        legend: producers.iter().enumerate().map(|(p, producer)| (producer.to_string(), colour(p))).collect(),
    })
}

/// Energy per period in the local market: what was matched (traded locally), imported
/// (consumers' use beyond it) and exported (producers' output beyond it), side by side.
pub fn market_energy(periods: &[PeriodPoint]) -> Markup {
    const SERIES: [(&str, usize); 3] = [("matched", 2), ("imported", 1), ("exported", 0)];
    let value = |p: &PeriodPoint, series: &str| match series {
        "matched" => p.matched_wh,
        "imported" => p.imported_wh,
        _ => p.exported_wh,
    };
    let max = periods.iter().flat_map(|p| SERIES.map(|(s, _)| value(p, s))).max().unwrap_or(0).max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / periods.len().max(1) as f64;
    let bar = (slot * 0.8 / 3.0).max(1.0);
    let mut rects = Vec::new();
    let mut labels = Vec::new();
    for (i, period) in periods.iter().enumerate() {
        let x0 = LEFT + i as f64 * slot + slot * 0.1;
        for (k, (series, colour_index)) in SERIES.iter().enumerate() {
            let wh = value(period, series);
            let h = wh as f64 / max * plot;
            let label = format!("{} {series}: {} kWh", hour_minute(period.start), kwh(wh));
            rects.push((x0 + k as f64 * bar, HEIGHT - BOTTOM - h, h, colour(*colour_index), label));
        }
        if i == 0 || i + 1 == periods.len() || periods.len() <= 8 {
            labels.push((x0 + 1.5 * bar, hour_minute(period.start)));
        }
    }
    bars(Bars {
        id: "market",
        title: "Energy per period: matched, imported and exported (kWh)".to_owned(),
        desc: format!(
            "{} periods: {} kWh matched, {} kWh imported, {} kWh exported in all.",
            periods.len(),
            kwh(periods.iter().map(|p| p.matched_wh).sum()),
            kwh(periods.iter().map(|p| p.imported_wh).sum()),
            kwh(periods.iter().map(|p| p.exported_wh).sum()),
        ),
        top: kwh(max as u64),
        bar,
        rects,
        labels,
        legend: SERIES.iter().map(|(series, c)| (series.to_string(), colour(*c))).collect(),
    })
}

/// Bars of several series stacked, one bar per labelled bucket (a member's energy by
/// period, day or month): `series` names them, each bucket's values in that order.
pub(crate) fn stacked(id: &'static str, title: &str, series: &[&str], buckets: &[(String, Vec<u64>)]) -> Markup {
    let max = buckets.iter().map(|(_, values)| values.iter().sum::<u64>()).max().unwrap_or(0).max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / buckets.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let mut rects = Vec::new();
    let mut labels = Vec::new();
    for (i, (label, values)) in buckets.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
        let mut y = HEIGHT - BOTTOM;
        for (k, wh) in values.iter().enumerate().filter(|(_, wh)| **wh > 0) {
            let h = *wh as f64 / max * plot;
            y -= h;
            rects.push((x, y, h, colour(k), format!("{label} {}: {} kWh", series[k], kwh(*wh))));
        }
        if i == 0 || i + 1 == buckets.len() || buckets.len() <= 8 {
            labels.push((x + bar / 2.0, label.clone()));
        }
    }
    let totals: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(k, name)| format!("{} kWh {name}", kwh(buckets.iter().map(|(_, values)| values[k]).sum())))
        .collect();
    bars(Bars {
        id,
        title: title.to_owned(),
        desc: format!("{} bars: {} in all.", buckets.len(), totals.join(", ")),
        top: kwh(max as u64),
        bar,
        rects,
        labels,
        legend: series.iter().enumerate().map(|(k, name)| (name.to_string(), colour(k))).collect(),
    })
}

/// One bar: where it stands, how high, its colour and what it says on hover.
type Bar = (f64, f64, f64, &'static str, String);

/// A bar chart over periods, with its axes, labels and legend.
struct Bars {
    /// Prefix of the chart's title and description ids.
    id: &'static str,
    title: String,
    desc: String,
    /// The label at the top of the axis.
    top: String,
    /// Each bar's width.
    bar: f64,
    rects: Vec<Bar>,
    labels: Vec<(f64, String)>,
    legend: Vec<(String, &'static str)>,
}

fn bars(chart: Bars) -> Markup {
    let (title, desc) = (format!("{}-title", chart.id), format!("{}-desc", chart.id));
    let bar = chart.bar;
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby=(format!("{title} {desc}")) {
            title #(title) { (chart.title) }
            desc #(desc) { (chart.desc) }
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) stroke="#555" {}
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#555" {}
            text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" font-size="11" { (chart.top) }
            text x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" font-size="11" { "0" }
            @for (x, y, h, fill, label) in &chart.rects {
                rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) fill=(fill) {
                    title { (label) }
                }
            }
            @for (x, label) in &chart.labels {
                text x=(format!("{x:.1}")) y=(HEIGHT - 6.0) text-anchor="middle" font-size="11" { (label) }
            }
        }
        ul.legend {
            @for (name, fill) in &chart.legend {
                li { svg width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(fill) {} } " " (name) }
            }
        }
    }
}

/// The price of each period.
pub fn price_over_time(periods: &[PeriodPoint]) -> Markup {
    let max = periods.iter().map(|p| p.price).max().unwrap_or(0).max(1) as f64;
    let min = periods.iter().map(|p| p.price).min().unwrap_or(0) as f64;
    let (low, high) = ((min * 0.9).floor(), (max * 1.05).ceil().max(min + 1.0));
    let plot = HEIGHT - BOTTOM - TOP;
    let step = (WIDTH - LEFT - 12.0) / (periods.len().max(2) - 1) as f64;
    let point = |i: usize, price: u64| {
        (LEFT + 6.0 + i as f64 * step, HEIGHT - BOTTOM - (price as f64 - low) / (high - low) * plot)
    };
    let line: Vec<String> =
        periods.iter().enumerate().map(|(i, p)| point(i, p.price)).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby="price-title price-desc" {
            title #price-title { "Price per period (IOTA per kWh)" }
            desc #price-desc { (format!("From {} to {} IOTA per kWh over {} periods.", min, max, periods.len())) }
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) stroke="#555" {}
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#555" {}
            text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" font-size="11" { (high) }
            text x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" font-size="11" { (low) }
            polyline points=(line.join(" ")) fill="none" stroke=(PALETTE[0]) stroke-width="2" {}
            @for (i, period) in periods.iter().enumerate() {
                @let (x, y) = point(i, period.price);
                circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" fill=(PALETTE[0]) {
                    title { (format!("{}: {} IOTA/kWh", hour_minute(period.start), period.price)) }
                }
                @if i == 0 || i + 1 == periods.len() {
                    text x=(format!("{x:.1}")) y=(HEIGHT - 6.0) text-anchor="middle" font-size="11" { (hour_minute(period.start)) }
                }
            }
        }
    }
}

/// The community's own share, per period: of what it used (self-sufficiency) and of what
/// it produced (self-consumption), 0 to 100 %.
pub fn self_sufficiency(periods: &[PeriodPoint]) -> Markup {
    let plot = HEIGHT - BOTTOM - TOP;
    let step = (WIDTH - LEFT - 12.0) / (periods.len().max(2) - 1) as f64;
    let point =
        |i: usize, bps: u64| (LEFT + 6.0 + i as f64 * step, HEIGHT - BOTTOM - bps.min(10_000) as f64 / 10_000.0 * plot);
    type Series = fn(&PeriodPoint) -> u64;
    let line = |of: Series| -> String {
        periods
            .iter()
            .enumerate()
            .map(|(i, p)| point(i, of(p)))
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let series: [(&str, Series); 2] =
        [("self-sufficiency", |p| p.self_sufficiency_bps), ("self-consumption", |p| p.self_consumption_bps)];
    let last = periods.last();
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby="own-title own-desc" {
            title #own-title { "Self-sufficiency and self-consumption per period (%)" }
            desc #own-desc { (match last {
                Some(p) => format!("Over {} periods; in the last, {}.{} % of use and {}.{} % of output were the community's own.",
                    periods.len(), p.self_sufficiency_bps / 100, p.self_sufficiency_bps % 100 / 10,
                    p.self_consumption_bps / 100, p.self_consumption_bps % 100 / 10),
                None => "No period settled yet.".to_owned(),
            }) }
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) stroke="#555" {}
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#555" {}
            text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" font-size="11" { "100 %" }
            text x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" font-size="11" { "0" }
            @for (n, (name, of)) in series.iter().enumerate() {
                polyline points=(line(*of)) fill="none" stroke=(PALETTE[n]) stroke-width="2" {
                    title { (name) }
                }
                text x=(WIDTH - 4.0) y=(TOP + 12.0 + n as f64 * 14.0) text-anchor="end" font-size="11" fill=(PALETTE[n]) { (name) }
            }
            @for (i, period) in periods.iter().enumerate() {
                @if i == 0 || i + 1 == periods.len() {
                    text x=(format!("{:.1}", point(i, 0).0)) y=(HEIGHT - 6.0) text-anchor="middle" font-size="11" { (hour_minute(period.start)) }
                }
            }
        }
    }
}

/// What each consumer was billed and paid.
pub fn consumer_balances(consumers: &[ConsumerRow]) -> Markup {
    let rows = consumers.len().max(1) as f64;
    let height = (rows * 22.0 + 28.0).max(60.0);
    let left = 96.0;
    let max = consumers.iter().map(|c| c.billed.max(c.paid)).max().unwrap_or(0).max(1) as f64;
    let scale = |v: u64| v as f64 / max * (WIDTH - left - 60.0);
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby="balances-title balances-desc" {
            title #balances-title { "Consumers: billed and paid (IOTA)" }
            desc #balances-desc { (format!("{} consumers; the outer bar is what was billed, the inner what was paid.", consumers.len())) }
            @for (i, c) in consumers.iter().enumerate() {
                @let y = 8.0 + i as f64 * 22.0;
                text x=(left - 6.0) y=(y + 13.0) text-anchor="end" font-size="11" { (c.id) }
                rect x=(left) y=(format!("{y:.1}")) width=(format!("{:.1}", scale(c.billed))) height="16" fill="#d0d7de" {
                    title { (format!("{} billed {} IOTA", c.id, c.billed)) }
                }
                rect x=(left) y=(format!("{:.1}", y + 4.0)) width=(format!("{:.1}", scale(c.paid))) height="8" fill=(PALETTE[2]) {
                    title { (format!("{} paid {} IOTA", c.id, c.paid)) }
                }
                text x=(format!("{:.1}", left + scale(c.billed.max(c.paid)) + 6.0)) y=(y + 13.0) font-size="11" {
                    @if c.outstanding > 0 { (format!("{} owed", c.outstanding)) } @else { "paid up" }
                }
            }
        }
    }
}
