//! Running totals: one registration's account, and the grid's own.

use super::StatementLine;
use crate::market::PeriodStart;
use crate::{Iota, PaymentAddress, RegistrationId, Wh};

/// One registration's running totals, in IOTA, and the energy they are for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// Consumers: charged over all settled periods.
    pub billed: Iota,
    /// Consumers: payments confirmed on the ledger.
    pub paid: Iota,
    /// Consumers: payments claimed, not yet confirmed.
    pub pending: Iota,
    /// Producers: allocated over all settled periods.
    pub entitled: Iota,
    /// Producers: payouts confirmed on the ledger.
    pub paid_out: Iota,
    /// Producers: payouts submitted, not yet final.
    pub payout_pending: Iota,
    /// All the energy settled: used (consumers) or produced (producers).
    pub energy: Wh,
    /// What of it the local market traded: local (consumers) or matched (producers).
    /// The rest was imported or exported.
    pub matched: Wh,
    /// The last period applied to this account.
    pub last_period: Option<PeriodStart>,
}

impl Account {
    /// What a consumer still owes: billed − paid − pending (never below zero).
    pub fn owed(&self) -> Iota {
        Iota::new(self.billed.get().saturating_sub(self.paid.get()).saturating_sub(self.pending.get()))
    }

    /// What the grid still owes a producer: entitled − paid out − pending payouts.
    pub fn unpaid(&self) -> Iota {
        Iota::new(self.entitled.get().saturating_sub(self.paid_out.get()).saturating_sub(self.payout_pending.get()))
    }

    /// Energy the local market did not trade: imported (consumers), exported (producers).
    pub fn unmatched(&self) -> Wh {
        Wh::new(self.energy.get().saturating_sub(self.matched.get()))
    }
}

/// One registration's share of a settled period: the line of its statement, where a
/// seller's allocation is paid, and what the account's energy totals gain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    pub registration: RegistrationId,
    /// Where a seller's allocation for this period is paid (the address it named in the
    /// period); none for a consumer.
    pub payment_address: Option<PaymentAddress>,
    /// The energy settled: all it metered, used and produced.
    pub energy: Wh,
    /// What of it the market traded: bought locally and sold.
    pub matched: Wh,
    pub line: StatementLine,
}

impl AccountEntry {
    /// What the period bills it: its charge as a buyer.
    pub fn billed(&self) -> Iota {
        self.line.charge
    }

    /// What the period entitles it to: its allocation as a seller.
    pub fn entitled(&self) -> Iota {
        self.line.allocation
    }
}

/// What a settled period adds to the grid's own totals: its fee, and the community's
/// savings and gains (DESIGN.md §6), so the overview can say what the community saved
/// without reading every period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GridEntry {
    pub fee: Iota,
    pub savings: Iota,
    /// Signed: sellers may earn less locally than the feed-in would have paid.
    pub gains: i64,
}

impl GridEntry {
    /// A period that only took a fee.
    pub fn fee(fee: Iota) -> Self {
        Self { fee, ..Self::default() }
    }
}

/// The grid's own totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GridTotals {
    /// Consumer payments confirmed on the ledger.
    pub paid_in: Iota,
    /// The grid's fees over all settled periods.
    pub fees: Iota,
    /// Payouts recorded (pending or committed).
    pub payouts: Iota,
    /// Buyers' savings and sellers' gains over all settled periods (0 before
    /// 2026-12-05, when periods had no such figures).
    pub savings: Iota,
    pub gains: i64,
}

impl GridTotals {
    /// What may be paid out: confirmed payments − fees − payouts (DESIGN.md §6).
    pub fn cash(&self) -> Iota {
        Iota::new(self.paid_in.get().saturating_sub(self.fees.get()).saturating_sub(self.payouts.get()))
    }
}
