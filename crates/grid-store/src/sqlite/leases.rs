//! `LeaseStore` over the `leases` table: an upsert that only wins over a free, expired
//! or own lease.

use async_trait::async_trait;
use grid_core::EpochMs;
use rusqlite::named_params;

use super::SqliteDb;
use crate::{LeaseStore, StoreError};

/// Leases in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteLeaseStore {
    db: SqliteDb,
}

impl SqliteLeaseStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LeaseStore for SqliteLeaseStore {
    async fn acquire(&self, job: &str, holder: &str, now: EpochMs, until: EpochMs) -> Result<bool, StoreError> {
        let (job, holder) = (job.to_owned(), holder.to_owned());
        self.db
            .write(move |conn| {
                let taken = conn
                    .prepare_cached(
                        "INSERT INTO leases (job, holder, expires_ms) VALUES (:job, :holder, :expires)
                         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                         WHERE leases.expires_ms <= :now OR leases.holder = excluded.holder",
                    )?
                    .execute(named_params! {
                        ":job": job, ":holder": holder, ":expires": until.get(), ":now": now.get(),
                    })?;
                Ok(taken > 0)
            })
            .await
    }

    async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        let (job, holder) = (job.to_owned(), holder.to_owned());
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM leases WHERE job = ?1 AND holder = ?2")?.execute([job, holder])?;
                Ok(())
            })
            .await
    }
}
