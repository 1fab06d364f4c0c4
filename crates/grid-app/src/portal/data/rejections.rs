//! Rejected channel messages and why: the newest across the grid (the overview) and, in
//! the same rows, a registration's own (its detail).

use grid_store::{Rejected, StoreError};
use serde::Serialize;

use super::PortalData;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectionRow {
    pub registration: String,
    pub channel_index: u64,
    /// What the operator reads.
    pub reason: String,
    /// The reason's fixed word, as the `readings_rejected` metric counts it.
    #[schema(value_type = String, example = "in-the-future")]
    pub code: &'static str,
    pub at: u64,
}

impl From<Rejected> for RejectionRow {
    fn from(r: Rejected) -> Self {
        Self {
            registration: r.registration.to_string(),
            channel_index: r.channel_index,
            reason: r.message,
            code: r.reason.as_str(),
            at: r.at.get(),
        }
    }
}

impl PortalData {
    /// The latest rejected channel messages of every registration, newest first.
    pub async fn rejections(&self, limit: usize) -> Result<Vec<RejectionRow>, StoreError> {
        Ok(self.stores.rejections.recent(limit).await?.into_iter().map(RejectionRow::from).collect())
    }
}
