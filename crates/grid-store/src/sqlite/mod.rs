//! The embedded adapter: every port over one SQLite file.
//!
//! SQLite is the default store for development, demos and small grids. One database
//! file (`grid.db` under the data directory) in WAL mode holds every table; schema
//! migrations run when the store opens. rusqlite is synchronous, so each operation
//! runs on tokio's blocking pool with a connection from a small pool of its own.
//! Conditional writes are single SQL statements (`ON CONFLICT DO NOTHING`,
//! `UPDATE … WHERE version = ?`), which SQLite executes atomically, so they hold
//! across connections and processes alike.

mod accounts;
mod activity;
mod channel_messages;
mod items;
mod leases;
mod market;
mod migrations;
mod pool;
mod queue;
mod registrations;
mod sign_ins;

use std::path::{Path, PathBuf};

pub use accounts::SqliteAccountStore;
pub use activity::{FileReportArchive, SqliteHeartbeatLog, SqliteRejectionLog};
pub use channel_messages::SqliteChannelStore;
pub use items::SqliteItemStore;
pub use leases::SqliteLeaseStore;
pub use market::{SqliteReadingStore, SqliteSettlementStore};
pub use queue::SqliteMessageQueue;
pub use registrations::SqliteRegistrationStore;
pub use sign_ins::SqliteSignInLog;

use crate::StoreError;
use pool::Pool;

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "grid.db";

/// An open grid database: cheap to clone, shared by every SQLite adapter.
#[derive(Clone)]
pub struct SqliteDb {
    pool: Pool,
}

impl SqliteDb {
    /// Opens (creating if needed) `grid.db` in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_pool(data_dir, Pool::new).await
    }

    /// [`open`](Self::open), with every commit counted by `faults` and the one it is
    /// armed for rolled back (crash-consistency tests).
    #[cfg(feature = "faults")]
    pub async fn open_with_faults(data_dir: &Path, faults: crate::faults::FaultPlan) -> Result<Self, StoreError> {
        Self::open_pool(data_dir, |path| Pool::with_faults(path, faults)).await
    }

    async fn open_pool(data_dir: &Path, pool: impl FnOnce(PathBuf) -> Pool) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(StoreError::backend)?;
        let db = Self { pool: pool(data_dir.join(DATABASE_FILE)) };
        db.run(migrations::apply).await?;
        Ok(db)
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        self.pool.path()
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.checkout()?;
            f(&mut conn)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            // Numbers go in and out as u64 with rusqlite's checked conversions: one above
            // i64::MAX, or a negative one read back, is refused, never clamped.
            E::ToSqlConversionFailure(_) | E::FromSqlConversionFailure(..) | E::IntegralValueOutOfRange(..) => {
                StoreError::OutOfRange(e.to_string())
            }
            other => StoreError::backend(other),
        }
    }
}
