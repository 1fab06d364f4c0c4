//! A member's statement (DESIGN.md §4, "Members"): what one registration did in each
//! settled period, and the sums over a range of periods.
//!
//! Settlement puts a [`StatementLine`] on every account it touches, in the same write as
//! the account's totals, so a statement of a year of 15-minute periods (35,040) reads
//! that registration's lines and nothing else: never a period's whole report.

use serde::Serialize;

use crate::market::PeriodStart;
use crate::{EpochMs, Iota, ItemType, Price, Wh};

/// One registration's figures in one settled period: its rows of the period's report
/// (as a buyer, as a seller, or both for a prosumer), with the period's price and the
/// tariff in force at its start. A producer's buyer figures are 0, a consumer's seller
/// figures too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementLine {
    pub period: PeriodStart,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ItemType>,
    pub price: Price,
    pub cap: Price,
    pub feed_in: Price,
    /// What it used of its own output, `min(G, U)` (a prosumer's; 0 otherwise).
    pub self_consumed: Wh,
    /// As a buyer: all it used, its local energy, what its utility supplied, its charge,
    /// its bid, and what it saved against the cap.
    pub used: Wh,
    pub local: Wh,
    pub imported: Wh,
    pub charge: Iota,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bid: Option<Price>,
    pub savings: Iota,
    /// As a seller: all it produced, what it put on the market, what the market used,
    /// what its utility took, its allocation, its ask, and what it gained against the
    /// feed-in (signed).
    pub produced: Wh,
    pub offered: Wh,
    pub matched: Wh,
    pub exported: Wh,
    pub allocation: Iota,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<Price>,
    pub gain: i64,
}

impl StatementLine {
    /// A line of `period` with no energy and no money yet.
    pub fn blank(period: PeriodStart, price: Price, cap: Price, feed_in: Price) -> Self {
        Self {
            period,
            kind: None,
            price,
            cap,
            feed_in,
            self_consumed: Wh::ZERO,
            used: Wh::ZERO,
            local: Wh::ZERO,
            imported: Wh::ZERO,
            charge: Iota::ZERO,
            bid: None,
            savings: Iota::ZERO,
            produced: Wh::ZERO,
            offered: Wh::ZERO,
            matched: Wh::ZERO,
            exported: Wh::ZERO,
            allocation: Iota::ZERO,
            ask: None,
            gain: 0,
        }
    }
}

/// A statement's sums over its periods, and the account they add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementTotals {
    pub periods: u64,
    pub self_consumed: Wh,
    pub used: Wh,
    pub local: Wh,
    pub imported: Wh,
    pub charge: Iota,
    pub savings: Iota,
    pub produced: Wh,
    pub offered: Wh,
    pub matched: Wh,
    pub exported: Wh,
    pub allocation: Iota,
    pub gain: i64,
    /// The account as it stands (every period, not only the statement's): a buyer's
    /// `billed`, `paid` and `owed`, a seller's `allocated` and `paidOut`. Over a range
    /// that holds every period, `billed` is Σ charge and `allocated` Σ allocation.
    pub billed: Iota,
    pub paid: Iota,
    pub owed: Iota,
    pub allocated: Iota,
    pub paid_out: Iota,
}

/// A statement's sums are beyond what the grid counts (they cannot be, for a year of
/// bounded periods; a corrupt store could).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a statement's {0} exceeds what the grid can count")]
pub struct StatementOverflow(&'static str);

impl StatementTotals {
    /// The sums of `lines`, beside `account`'s standing.
    pub fn of(lines: &[StatementLine], account: &super::Account) -> Result<Self, StatementOverflow> {
        let wh = |what: &'static str, f: fn(&StatementLine) -> Wh| {
            let sum: u128 = lines.iter().map(|l| u128::from(f(l).get())).sum();
            u64::try_from(sum).map(Wh::new).map_err(|_| StatementOverflow(what))
        };
        let iota = |what: &'static str, f: fn(&StatementLine) -> Iota| {
            let sum: u128 = lines.iter().map(|l| u128::from(f(l).get())).sum();
            u64::try_from(sum).map(Iota::new).map_err(|_| StatementOverflow(what))
        };
        let gain: i128 = lines.iter().map(|l| i128::from(l.gain)).sum();
        Ok(Self {
            periods: lines.len() as u64,
            self_consumed: wh("self-consumed energy", |l| l.self_consumed)?,
            used: wh("used energy", |l| l.used)?,
            local: wh("local energy", |l| l.local)?,
            imported: wh("imported energy", |l| l.imported)?,
            charge: iota("charges", |l| l.charge)?,
            savings: iota("savings", |l| l.savings)?,
            produced: wh("produced energy", |l| l.produced)?,
            offered: wh("offered energy", |l| l.offered)?,
            matched: wh("matched energy", |l| l.matched)?,
            exported: wh("exported energy", |l| l.exported)?,
            allocation: iota("allocations", |l| l.allocation)?,
            gain: i64::try_from(gain).map_err(|_| StatementOverflow("gains"))?,
            billed: account.billed,
            paid: account.paid,
            owed: account.owed(),
            allocated: account.entitled,
            paid_out: account.paid_out,
        })
    }
}

/// The periods a statement covers: those starting at or after `from` and before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementRange {
    from: u64,
    to: u64,
}

/// A range a statement cannot cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementRangeError {
    #[error("from must be before to")]
    Empty,
    #[error("a statement covers at most 366 days; ask for several")]
    TooLong,
}

impl StatementRange {
    /// The longest statement: a leap year.
    pub const MAX_MS: u64 = 366 * 86_400_000;
    /// Without `from`, the 30 days before `to`; without `to`, up to `now`.
    pub const DEFAULT_MS: u64 = 30 * 86_400_000;

    pub fn parse(from: Option<EpochMs>, to: Option<EpochMs>, now: EpochMs) -> Result<Self, StatementRangeError> {
        let to = to.unwrap_or(now).get();
        let from = from.map_or(to.saturating_sub(Self::DEFAULT_MS), EpochMs::get);
        if from >= to {
            return Err(StatementRangeError::Empty);
        }
        if to - from > Self::MAX_MS {
            return Err(StatementRangeError::TooLong);
        }
        Ok(Self { from, to })
    }

    /// The first period start it holds (at or after this), and the end (before this).
    pub fn from(self) -> u64 {
        self.from
    }

    pub fn to(self) -> u64 {
        self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> EpochMs {
        EpochMs::parse(ms as i64).unwrap()
    }

    const NOW: u64 = 1_796_000_000_000;
    const DAY: u64 = 86_400_000;

    #[test]
    fn a_range_defaults_to_the_last_thirty_days_and_holds_at_most_a_leap_year() {
        let range = StatementRange::parse(None, None, at(NOW)).unwrap();
        assert_eq!((range.from(), range.to()), (NOW - 30 * DAY, NOW));
        let range = StatementRange::parse(Some(at(NOW - 366 * DAY)), None, at(NOW)).unwrap();
        assert_eq!(range.from(), NOW - 366 * DAY);
        assert_eq!(
            StatementRange::parse(Some(at(NOW - 366 * DAY - 1)), None, at(NOW)),
            Err(StatementRangeError::TooLong)
        );
        assert_eq!(StatementRange::parse(Some(at(NOW)), Some(at(NOW)), at(NOW)), Err(StatementRangeError::Empty));
    }

    #[test]
    fn the_totals_sum_the_lines_and_stand_beside_the_account() {
        let line = |charge: u64, gain: i64| StatementLine {
            used: Wh::new(1000),
            local: Wh::new(600),
            imported: Wh::new(400),
            charge: Iota::new(charge),
            savings: Iota::new(5),
            gain,
            ..StatementLine::blank(PeriodStart::parse(NOW).unwrap(), Price::ZERO, Price::ZERO, Price::ZERO)
        };
        let account = super::super::Account { billed: Iota::new(70), paid: Iota::new(30), ..Default::default() };
        let totals = StatementTotals::of(&[line(40, 7), line(30, -10)], &account).unwrap();
        assert_eq!(
            (totals.periods, totals.used, totals.local, totals.charge, totals.savings, totals.gain),
            (2, Wh::new(2000), Wh::new(1200), Iota::new(70), Iota::new(10), -3)
        );
        assert_eq!((totals.billed, totals.paid, totals.owed), (Iota::new(70), Iota::new(30), Iota::new(40)));
    }
}
