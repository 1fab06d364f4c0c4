//! The embedded adapter: every port over one SQLite file.
//!
//! SQLite is the default store for development, demos and small grids. One database
//! file (`grid.db` under the data directory) in WAL mode holds every table; schema
//! migrations run when the store opens. rusqlite is synchronous, so each read runs on
//! tokio's blocking pool with a connection from a small pool of its own, and every
//! write goes to one writer thread, which commits the writes waiting together
//! ([`writer`]). Conditional writes are single SQL statements (`ON CONFLICT DO
//! NOTHING`, `UPDATE … WHERE version = ?`) or read-then-write in the writer's
//! immediate transaction, so they hold across connections and processes alike.

mod accounts;
mod activity;
mod channel_messages;
mod heartbeats;
mod items;
mod leases;
mod market;
mod migrations;
mod pool;
mod queue;
mod registrations;
mod sign_ins;
mod writer;

use std::path::{Path, PathBuf};

pub use accounts::SqliteAccountStore;
pub use activity::{FileReportArchive, SqliteRejectionLog};
pub use channel_messages::SqliteChannelMessageStore;
pub use heartbeats::SqliteHeartbeatLog;
pub use items::SqliteItemStore;
pub use leases::SqliteLeaseStore;
pub use market::{SqliteReadingStore, SqliteSettlementStore};
pub use queue::SqliteMessageQueue;
pub use registrations::SqliteRegistrationStore;
pub use sign_ins::SqliteSignInLog;

use crate::StoreError;
use pool::Pool;
use writer::Writer;

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "grid.db";

/// An open grid database: cheap to clone, shared by every SQLite adapter.
#[derive(Clone)]
pub struct SqliteDb {
    pool: Pool,
    writer: Writer,
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
        let pool = pool(data_dir.join(DATABASE_FILE));
        let migrated = pool.clone();
        let conn = tokio::task::spawn_blocking(move || {
            let mut conn = migrated.connect()?;
            migrations::apply(&mut conn)?;
            Ok::<_, StoreError>(conn)
        })
        .await
        .map_err(StoreError::backend)??;
        Ok(Self { writer: Writer::start(conn)?, pool })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        self.pool.path()
    }

    /// Runs `f`, which writes, in the writer's next group commit (it must not begin a
    /// transaction: it is in one).
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Runs `f`, a read of a few rows by their key, at once on the calling thread with
    /// a pooled connection. Such a read takes microseconds (WAL readers never wait for
    /// the writer), less than handing it to another thread and back, which cost the
    /// HTTP paths a third of their throughput. Anything that reads more goes to
    /// [`read`](Self::read).
    pub(crate) fn lookup<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&*self.pool.checkout()?)
    }

    /// Runs `f`, which only reads, with a pooled connection on the blocking thread pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
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
