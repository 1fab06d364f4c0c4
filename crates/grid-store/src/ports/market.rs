//! The market's port: the readings of each period, and the settled periods with the
//! order they settle in (which periods still take readings).

use std::collections::BTreeMap;

use async_trait::async_trait;
use grid_core::market::{PeriodStart, ReadingKind, SettlementHead, SettlementRecord, StoredReading};
use grid_core::{EpochMs, ItemType, PaymentAddress, Price, RegistrationId, Wh};

use crate::error::StoreError;

/// What became of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insertion {
    Stored,
    /// The same reading (registration, kind, start time) is already stored; nothing changed.
    Duplicate,
    /// `counted_in` is closing or settled; nothing changed. Try a later period.
    PeriodClosed,
}

/// Where a listing of a period's readings goes on (opaque to callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingCursor(pub String);

/// One page of a period's readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingPage {
    pub readings: Vec<StoredReading>,
    pub next: Option<ReadingCursor>,
}

/// A period's readings of one registration, kind and price, summed: what settlement
/// needs of them (it never needs a reading on its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingSum {
    pub registration: RegistrationId,
    pub kind: ReadingKind,
    /// The price the readings carried: an output's ask, a usage's bid (if any).
    pub price: Option<Price>,
    /// Their energy, summed.
    pub energy: Wh,
    /// The start time of the latest of them, and its payment address if it had one.
    pub latest_start: EpochMs,
    pub payment_address: Option<PaymentAddress>,
    /// What kind of registration sent them (none if all were stored before it was kept).
    pub party: Option<ItemType>,
}

/// Pages a listing of a period's readings take while they are summed.
const SUM_PAGE: usize = 1_000;

/// Keeps readings, each exactly once.
#[async_trait]
pub trait ReadingStore: Send + Sync {
    /// Stores each reading in its `counted_in` if that period is still open, and if no
    /// reading with the same registration, kind and start time exists, in one atomic
    /// step with the check (a period being settled never gains a reading): one outcome
    /// per reading, in order. Adapters write many at once where they can; each reading
    /// is still checked against its period on its own.
    async fn insert_many(&self, readings: &[StoredReading]) -> Result<Vec<Insertion>, StoreError>;

    /// [`insert_many`](Self::insert_many) of readings the caller knows no settlement can
    /// close the period of while they are written (by its clock, with a margin past any
    /// write it starts now: see the poller), each counted in its own period. Each is
    /// still stored at most once, but an adapter may leave out the check against the
    /// settlement head, which on DynamoDB makes a reading a transaction of four write
    /// units instead of a conditional put of one.
    async fn insert_fresh(&self, readings: &[StoredReading]) -> Result<Vec<Insertion>, StoreError> {
        self.insert_many(readings).await
    }

    /// [`insert_many`](Self::insert_many) of one reading.
    async fn insert(&self, reading: &StoredReading) -> Result<Insertion, StoreError> {
        let outcomes = self.insert_many(std::slice::from_ref(reading)).await?;
        outcomes.into_iter().next().ok_or_else(|| StoreError::Corrupt("an insert without an outcome".to_owned()))
    }

    /// A registration's latest readings (both kinds), newest first, at most `limit`.
    async fn of_registration(
        &self,
        registration: &RegistrationId,
        limit: usize,
    ) -> Result<Vec<StoredReading>, StoreError>;

    /// The readings counted in `period`, up to `limit` at a time.
    async fn counted_in(
        &self,
        period: PeriodStart,
        after: Option<&ReadingCursor>,
        limit: usize,
    ) -> Result<ReadingPage, StoreError>;

    /// The readings counted in `period`, summed per registration, kind and price, in
    /// that order. The default reads every reading (DynamoDB cannot sum); an adapter
    /// that can sum where the readings are overrides it.
    async fn sums(&self, period: PeriodStart) -> Result<Vec<ReadingSum>, StoreError> {
        let mut sums: BTreeMap<(RegistrationId, ReadingKind, Option<Price>), ReadingSum> = BTreeMap::new();
        let mut after = None;
        loop {
            let page = self.counted_in(period, after.as_ref(), SUM_PAGE).await?;
            for stored in page.readings {
                let key = (stored.registration.clone(), stored.kind, stored.price);
                let start = stored.reading.start;
                let sum = sums.entry(key).or_insert_with(|| ReadingSum {
                    registration: stored.registration,
                    kind: stored.kind,
                    price: stored.price,
                    energy: Wh::new(0),
                    latest_start: start,
                    payment_address: stored.payment_address.clone(),
                    party: None,
                });
                sum.party = stored.party.or(sum.party);
                sum.energy = sum
                    .energy
                    .checked_add(stored.reading.energy)
                    .ok_or_else(|| StoreError::Corrupt(format!("the energy of period {period} overflows")))?;
                if start >= sum.latest_start {
                    sum.latest_start = start;
                    sum.payment_address = stored.payment_address;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(sums.into_values().collect()),
            }
        }
    }
}

/// Keeps settlements and the settlement head.
#[async_trait]
pub trait SettlementStore: Send + Sync {
    async fn head(&self) -> Result<SettlementHead, StoreError>;

    /// Starts the grid's history: while no period has been closed, records `latest` as
    /// settled if it is earlier than what the head says (or the head says nothing), so
    /// that readings from before it count in the first open period instead of being
    /// stranded. The start only ever moves earlier, so pollers that see different
    /// first readings side by side agree on the earliest. Does nothing once
    /// settlement has closed a period.
    async fn initialize(&self, latest: PeriodStart) -> Result<(), StoreError>;

    /// Starts settling `period`, which must directly follow the head's `latest`
    /// (`previous`): from now on no reading joins it. Closing a period that is already
    /// closing succeeds (a resumed run); anything else is a [`StoreError::Conflict`].
    async fn close(&self, period: PeriodStart, previous: Option<PeriodStart>) -> Result<(), StoreError>;

    /// Stores the closing period's record and makes it the head's `latest`, atomically.
    /// A [`StoreError::Conflict`] if `record.period` is not the closing period.
    async fn finish(&self, record: &SettlementRecord) -> Result<(), StoreError>;

    async fn get(&self, period: PeriodStart) -> Result<Option<SettlementRecord>, StoreError>;
}
