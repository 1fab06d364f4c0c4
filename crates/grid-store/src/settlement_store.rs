//! The port that keeps settled periods and the order they settle in.

use async_trait::async_trait;
use grid_core::market::{PeriodStart, SettlementHead, SettlementRecord};

use crate::StoreError;

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
