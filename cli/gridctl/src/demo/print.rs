//! What the demo prints: the opening line, the story of what happened, the tables of
//! periods, producers and consumers, and the checks; with the small formatters (kWh,
//! durations, UTC minutes, wrapping) they share. Apart so that the output's shape reads
//! in one place.

use grid_app::GridConfig;
use grid_core::market::ConsensusStrategy;
use grid_core::{EpochMs, Iota};

use super::args::{DemoArgs, Scenario};
use super::summary::Summary;

/// The opening line: who takes part, over which periods, in which market.
pub(super) fn print_intro(args: &DemoArgs, config: &GridConfig, start: u64) {
    say!(
        "energy-grid demo: {} producers × {} solar sources, {} consumers, {} periods of {} from {} UTC (simulated \
         clock); {} supply and demand, {} market under a cap of {} IOTA/kWh",
        args.producers,
        args.sources,
        args.consumers,
        args.periods,
        human(args.period),
        clock(start),
        match args.scenario {
            Scenario::Balanced => "balanced",
            Scenario::Shortage => "a shortage of",
            Scenario::Surplus => "a surplus of",
            Scenario::Community => "a community's",
        },
        config.market.rules.strategy,
        config.market.tariff.cap.highest().get(),
    );
}

/// What happened, in words, before the tables.
pub(super) fn print_story(config: &GridConfig, slot_ms: u64) {
    let fee = config.market.rules.fee.get();
    let pricing = match config.market.rules.strategy {
        ConsensusStrategy::Clearing => {
            "matched the cheapest offers first and priced the energy at the ask of the last one it needed"
        }
        ConsensusStrategy::Weighted => "priced the energy at the offers' volume-weighted average",
        ConsensusStrategy::Mean => "priced the energy at the mean of the offers",
        ConsensusStrategy::Median => "priced the energy at the median offer",
    };
    let story = format!(
        "What happened: every {} (simulated) the panels reported their output to their producers, the \
         producers offered it to the grid at their asking price, and the households reported what they used, \
         each on its own signed, encrypted channel. After each period the grid traded only the energy both \
         produced and used locally: it admitted offers at or below {} IOTA/kWh, {pricing}, and shared the \
         matched energy among the households by what they used (the rest they imported from their utility; \
         what the market did not need, the producers exported to theirs). It billed each household for its \
         local energy (a payment request on its return channel), kept its {}% fee and shared the rest among \
         the producers by the energy matched. The households paid on the ledger and named the batch; the grid \
         checked each payment there, then paid each producer, for each period, to the address it named in \
         that period. The figures come from the grid's books and from the ledger.",
        human(slot_ms / 1000),
        config.market.tariff.cap.highest().get(),
        if fee.is_multiple_of(100) { format!("{}", fee / 100) } else { format!("{}.{:02}", fee / 100, fee % 100) },
    );
    say!("{}\n", wrap(&story, 96));
}

pub(super) fn print_summary(s: &Summary, steps: u64, checked: &[(bool, String)]) {
    say!("Periods (energy in kWh, price in IOTA/kWh, money in IOTA)");
    say!(
        "{:<17} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>5}  allocations",
        "period",
        "price",
        "produced",
        "used",
        "matched",
        "imported",
        "exported",
        "revenue",
        "fee"
    );
    for p in &s.periods {
        let r = &p.settlement;
        let allocations: Vec<String> = r
            .producers
            .iter()
            .filter(|x| x.allocation > Iota::ZERO)
            .map(|x| format!("{} {}", x.id, x.allocation.get()))
            .collect();
        say!(
            "{:<17} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>5}  {}",
            clock(p.period_start.get()),
            r.price.get(),
            kwh_figure(r.produced.get()),
            kwh_figure(r.used.get()),
            kwh_figure(r.matched.get()),
            kwh_figure(r.imported.get()),
            kwh_figure(r.exported.get()),
            r.revenue.get(),
            r.fee.get(),
            if allocations.is_empty() { "-".to_owned() } else { allocations.join(", ") }
        );
    }
    say!("\nProducers (energy in kWh, money in IOTA)");
    say!(
        "{:<14} {:>5} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>14}",
        "producer",
        "asks",
        "offered",
        "matched",
        "exported",
        "earned",
        "paid out",
        "unpaid",
        "wallet (ledger)"
    );
    for p in &s.producers {
        say!(
            "{:<14} {:>5} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>14}",
            p.id,
            p.price,
            kwh_figure(p.offered_wh),
            kwh_figure(p.matched_wh),
            kwh_figure(p.exported_wh),
            p.entitled,
            p.paid_out,
            p.unpaid,
            p.ledger_balance
        );
    }
    say!("\nConsumers (energy in kWh, money in IOTA)");
    say!(
        "{:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>9} {:>14}",
        "consumer",
        "used",
        "local",
        "imported",
        "billed",
        "paid",
        "owed",
        "requests",
        "spent (ledger)"
    );
    for c in &s.consumers {
        say!(
            "{:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>9} {:>14}",
            c.id,
            kwh_figure(c.used_wh),
            kwh_figure(c.local_wh),
            kwh_figure(c.imported_wh),
            c.billed,
            c.paid,
            c.owed,
            c.payment_requests,
            c.ledger_spent
        );
    }
    say!(
        "\nThe grid: {} IOTA paid in, {} paid out, {} in fees; it holds {} on the ledger.",
        s.grid.paid_in,
        s.grid.payouts,
        s.grid.fees,
        s.grid.ledger_held
    );
    say!("\nChecks ({steps} simulated steps)");
    for (ok, what) in checked {
        say!("  {} {}", if *ok { "✓" } else { "✗" }, wrap(what, 92).replace('\n', "\n    "));
    }
}

/// `text` broken into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\n")
}

pub(super) fn kwh(wh: u64) -> String {
    format!("{} kWh", kwh_figure(wh))
}

/// Watt-hours as kWh with three decimals, exactly.
fn kwh_figure(wh: u64) -> String {
    format!("{}.{:03}", wh / 1000, wh % 1000)
}

fn human(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// `YYYY-MM-DD HH:MM` UTC of an epoch-ms instant.
pub(super) fn clock(ms: u64) -> String {
    EpochMs::parse(ms as i64).map(EpochMs::utc_minute).unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_spaces_within_the_width() {
        assert_eq!(wrap("one two three four", 9), "one two\nthree\nfour");
        assert_eq!(wrap("", 9), "");
    }
}
