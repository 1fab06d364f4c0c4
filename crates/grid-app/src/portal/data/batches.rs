//! The ledger batches: consumers' payment claims and producers' payouts, as the batch
//! monitor follows them.

use grid_core::EpochMs;
use grid_core::books::BatchState;
use grid_store::{BatchView, StoreError};
use serde::Serialize;

use super::PortalData;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRow {
    pub id: String,
    pub kind: String,
    pub registration: String,
    pub amount: u64,
    pub status: String,
    pub reasons: Vec<String>,
    pub submitted: u64,
    pub last_checked: u64,
    pub times_checked: u64,
}

impl From<BatchView> for BatchRow {
    fn from(b: BatchView) -> Self {
        Self {
            id: b.id.to_string(),
            kind: b.kind.as_str().to_owned(),
            registration: b.registration.to_string(),
            amount: b.amount.get(),
            status: b.status.as_str().to_owned(),
            reasons: b.reasons,
            submitted: b.submitted.get(),
            // 0: never checked, as the portal's API has always said.
            last_checked: b.last_checked.map_or(0, EpochMs::get),
            times_checked: b.times_checked,
        }
    }
}

impl PortalData {
    pub async fn batches(&self, status: Option<BatchState>, limit: usize) -> Result<Vec<BatchRow>, StoreError> {
        Ok(self.stores.accounts.batches(status, limit).await?.into_iter().map(BatchRow::from).collect())
    }
}
