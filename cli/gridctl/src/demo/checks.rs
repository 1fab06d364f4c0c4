//! The demo's own checks of its summary: every kWh counted once, no household paying
//! above the cap or its bid, every period's money adding up, the accounts holding the
//! periods, every bill paid and every seller paid, and no IOTA lost. Apart from the
//! printing because the checks decide the demo's exit status.

use grid_core::Iota;
use grid_core::market::{ConsensusStrategy, ConsumerOutcome, PeriodReport, ProducerOutcome};

use super::print::kwh;
use super::summary::Summary;

/// The demo's own checks of the summary: `(passed, what)`.
pub(super) fn checks(s: &Summary) -> Vec<(bool, String)> {
    fn report(p: &PeriodReport) -> &grid_core::market::Settlement {
        &p.settlement
    }
    let sum = |it: &mut dyn Iterator<Item = u64>| it.sum::<u64>();
    let revenue = sum(&mut s.periods.iter().map(|p| report(p).revenue.get()));
    let allocated = sum(&mut s.periods.iter().flat_map(|p| report(p).producers.iter().map(|x| x.allocation.get())));
    let fees = sum(&mut s.periods.iter().map(|p| report(p).fee.get() + report(p).unallocated.get()));
    let billed = sum(&mut s.consumers.iter().map(|c| c.billed));
    let paid = sum(&mut s.consumers.iter().map(|c| c.paid));
    // Sellers: producers, and prosumers among the households.
    let paid_out = sum(&mut s.producers.iter().map(|p| p.paid_out)) + sum(&mut s.consumers.iter().map(|c| c.paid_out));
    let entitled = sum(&mut s.producers.iter().map(|p| p.entitled)) + sum(&mut s.consumers.iter().map(|c| c.entitled));
    let matched = sum(&mut s.periods.iter().map(|p| report(p).matched.get()));
    let (imported, exported) = (
        sum(&mut s.periods.iter().map(|p| report(p).imported.get())),
        sum(&mut s.periods.iter().map(|p| report(p).exported.get())),
    );
    let money_ok = s.periods.iter().map(report).all(|r| {
        let allocations: u64 = r.producers.iter().map(|p| p.allocation.get()).sum();
        let charges: u64 = r.consumers.iter().map(|c| c.charge.get()).sum();
        allocations + r.fee.get() + r.unallocated.get() == r.revenue.get() && charges == r.revenue.get()
    });
    // Every Wh once: what a home used of its own output (self-consumed), then what the
    // market matched, then what the utilities took or supplied (with no prosumers,
    // self-consumed is 0 and offered and demand are produced and used).
    let energy_ok = s.periods.iter().map(report).all(|r| {
        let local: u64 = r.consumers.iter().map(|c| c.local.get()).sum();
        let sold: u64 = r.producers.iter().map(|p| p.matched.get()).sum();
        let bought: u64 = r.consumers.iter().map(|c| c.imported.get()).sum();
        let left: u64 = r.producers.iter().map(|p| p.exported.get()).sum();
        let (m, own) = (r.matched.get(), r.self_consumed.get());
        // Without a bid below the cap, the market takes all it can.
        let one_sided = r.consumers.iter().all(|c| c.bid.is_none_or(|b| b >= r.cap));
        local == m
            && sold == m
            && (if one_sided {
                m == r.admitted.get().min(r.demand.get())
            } else {
                m <= r.admitted.get().min(r.demand.get())
            })
            && bought == r.imported.get()
            && own + m + r.imported.get() == r.used.get()
            && left == r.exported.get()
            && own + m + r.exported.get() == r.produced.get()
            && r.consumers
                .iter()
                .all(|c: &ConsumerOutcome| c.self_consumed.get() + c.local.get() + c.imported.get() == c.used.get())
            && r.producers.iter().all(|p: &ProducerOutcome| {
                p.self_consumed.get() + p.matched.get() + p.exported.get() == p.produced.get()
            })
    });
    // Against each period's cap (its tariff at its start), below each buyer's bid, and
    // (pay-as-clear) at or above each matched seller's ask.
    let capped = s.periods.iter().map(report).all(|r| {
        let cap = u128::from(r.cap.get());
        r.consumers.iter().all(|c| u128::from(c.charge.get()) <= (u128::from(c.local.get()) * cap).div_ceil(1000))
            && r.consumers.iter().filter(|c| c.local.get() > 0).all(|c| c.bid.is_some_and(|b| b >= r.price))
            && (r.strategy != ConsensusStrategy::Clearing
                || r.producers.iter().filter(|p| p.matched.get() > 0).all(|p| p.ask.is_some_and(|a| a <= r.price)))
    });
    // The headline figures are the rows': self-sufficiency and self-consumption from the
    // energies, savings and gains from each buyer and seller.
    let bps = |part: u64, whole: u64| (u128::from(part) * 10_000).checked_div(u128::from(whole)).unwrap_or(0) as u64;
    let figures_ok = s.periods.iter().map(report).all(|r| {
        let own = r.self_consumed.get() + r.matched.get();
        r.self_sufficiency_bps == bps(own, r.used.get())
            && r.self_consumption_bps == bps(own, r.produced.get())
            && r.consumers.iter().map(|c| c.savings.get()).sum::<u64>() == r.savings.get()
            && r.producers.iter().map(|p| p.gain).sum::<i64>() == r.gains
    });
    let billed_periods = |id: &str| {
        s.periods
            .iter()
            .filter(|p| report(p).consumers.iter().any(|c| c.id.as_str() == id && c.charge > Iota::ZERO))
            .count() as u64
    };
    vec![
        (
            energy_ok,
            format!(
                "every kWh counted once: each period, Σ local = Σ matched = M, used = self-consumed + M + \
                 imported, produced = self-consumed + M + exported ({} matched, {} imported, {} exported in all)",
                kwh(matched),
                kwh(imported),
                kwh(exported)
            ),
        ),
        (
            capped,
            "no household paid more than the cap, nor above its bid, and no seller below its ask: every charge ≤ \
             ⌈local kWh × the period's cap⌉ IOTA, every local buyer's bid ≥ the price ≥ every matched seller's ask"
                .to_owned(),
        ),
        (
            money_ok,
            format!(
                "every period adds up: charges = revenue = allocations + fee + unallocated ({revenue} IOTA in all)"
            ),
        ),
        (
            billed == revenue && entitled == allocated,
            format!("the accounts hold the periods: {billed} IOTA billed, {entitled} IOTA earned"),
        ),
        (
            s.consumers.iter().all(|c| c.payment_requests == billed_periods(&c.id)),
            "every billed household got one payment request per period it was charged in".to_owned(),
        ),
        (
            paid == billed && s.consumers.iter().all(|c| c.ledger_spent == c.paid),
            format!("households paid every bill: {paid} IOTA, exactly what left their ledger accounts"),
        ),
        (
            paid_out == entitled
                && s.producers.iter().all(|p| p.ledger_balance == p.paid_out && p.unpaid == 0)
                && s.consumers.iter().all(|c| c.paid_out == c.entitled && c.unpaid == 0),
            format!("sellers were paid what they earned: {paid_out} IOTA, exactly what their wallets hold"),
        ),
        (
            figures_ok,
            format!(
                "the community's figures are its rows': self-sufficiency and self-consumption from the energies; \
                 buyers saved {} IOTA against the cap, sellers gained {} IOTA against the feed-in",
                sum(&mut s.periods.iter().map(|p| report(p).savings.get())),
                s.periods.iter().map(|p| report(p).gains).sum::<i64>()
            ),
        ),
        (
            s.grid.paid_in == paid
                && paid == paid_out + s.grid.held
                && s.grid.held == s.grid.ledger_held
                && s.grid.held == fees,
            format!(
                "no IOTA lost: {paid} paid in = {paid_out} paid out + {} kept by the grid (its fees), on the ledger too",
                s.grid.held
            ),
        ),
    ]
}
