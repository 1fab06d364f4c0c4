//! One run of a job at a time: a lease taken at the start of a run and given back at
//! its end. It expires by itself, so a run that dies does not block the job for long.
//! The lease saves duplicated work; correctness never depends on it, because every
//! effect of a job is guarded on its own.

use std::sync::Arc;
use std::time::Duration;

use grid_core::EpochMs;
use grid_store::{LeaseStore, StoreError};

/// A lease held by this run.
pub(crate) struct Lease {
    store: Arc<dyn LeaseStore>,
    job: &'static str,
    holder: String,
}

impl Lease {
    /// Takes `job`'s lease until `now + ttl`, or `None` if another run holds it.
    pub(crate) async fn take(
        store: &Arc<dyn LeaseStore>,
        job: &'static str,
        now: EpochMs,
        ttl: Duration,
    ) -> Result<Option<Self>, StoreError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        let holder = format!("run-{:016x}", u64::from_le_bytes(bytes));
        let until = now.plus(ttl).map_err(|e| StoreError::OutOfRange(format!("the lease of {job}: {e}")))?;
        if !store.acquire(job, &holder, now, until).await? {
            tracing::info!(job, "another run holds the lease; this one stands aside");
            return Ok(None);
        }
        Ok(Some(Self { store: store.clone(), job, holder }))
    }

    /// The run's name in logs.
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    pub(crate) async fn release(self) -> Result<(), StoreError> {
        self.store.release(self.job, &self.holder).await
    }
}
