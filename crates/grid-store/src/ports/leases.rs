//! The port that keeps leases, so two runs of a scheduled job never overlap.

use async_trait::async_trait;
use grid_core::EpochMs;

use crate::error::StoreError;

/// Leases, so two runs of a scheduled job never overlap.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease of `job` for `holder` until `until`, if it is free, expired at
    /// `now`, or already `holder`'s. `false` if someone else holds it.
    async fn acquire(&self, job: &str, holder: &str, now: EpochMs, until: EpochMs) -> Result<bool, StoreError>;

    /// Gives the lease back, if `holder` still holds it.
    async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError>;
}
