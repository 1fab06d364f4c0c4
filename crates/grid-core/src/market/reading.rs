//! A reading as the grid keeps it: what a party said, where, and the period it counts in.

use super::PeriodStart;
use crate::channel::Reading;
use crate::{ItemType, PaymentAddress, Price, RegistrationId};

/// Whether a reading is a producer's output or a consumer's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadingKind {
    Output,
    Usage,
}

impl ReadingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Usage => "usage",
        }
    }

    /// The kind [`as_str`](Self::as_str) names, as stores keep it.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Output, Self::Usage].into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A reading as the grid keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReading {
    pub registration: RegistrationId,
    pub kind: ReadingKind,
    pub reading: Reading,
    /// What kind of registration sent it (none for readings stored before 2026-12-05):
    /// the period report's `kind`, kept with each reading so settlement reads no
    /// registration for it.
    pub party: Option<ItemType>,
    /// An output's ask (with where its seller is paid); a usage's bid, if it had one.
    pub price: Option<Price>,
    pub payment_address: Option<PaymentAddress>,
    /// Where on the registration's channel it was read.
    pub channel_index: u64,
    /// The period its start time falls in.
    pub period: PeriodStart,
    /// The period it is settled in: its own, or the earliest open one when it arrived
    /// after its own period closed.
    pub counted_in: PeriodStart,
}
