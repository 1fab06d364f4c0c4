//! A minimal connection pool: idle connections are reused, new ones opened on demand.
//!
//! Concurrency is already bounded by tokio's blocking pool; this only saves the cost
//! of opening a connection (and its PRAGMAs) on every operation.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

/// Connections kept open while idle.
const MAX_IDLE: usize = 16;
/// How long a writer waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    #[cfg(feature = "faults")]
    faults: Option<crate::faults::FaultPlan>,
}

impl Pool {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(Vec::new()),
                #[cfg(feature = "faults")]
                faults: None,
            }),
        }
    }

    /// A pool whose every connection fails the commit `faults` is armed for.
    #[cfg(feature = "faults")]
    pub(crate) fn with_faults(path: PathBuf, faults: crate::faults::FaultPlan) -> Self {
        Self { inner: Arc::new(Inner { path, idle: Mutex::new(Vec::new()), faults: Some(faults) }) }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    /// An idle connection, or a freshly opened one.
    pub(crate) fn checkout(&self) -> Result<Pooled, StoreError> {
        let reused = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match reused {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Pooled { conn: Some(conn), pool: self.inner.clone() })
    }

    /// A new connection of the pool's own (the writer's, which it keeps).
    pub(crate) fn connect(&self) -> Result<Connection, StoreError> {
        #[cfg_attr(not(feature = "faults"), allow(unused_mut))]
        let mut conn = open(&self.inner.path)?;
        #[cfg(feature = "faults")]
        if let Some(faults) = self.inner.faults.clone() {
            conn.commit_hook(Some(move || faults.fails_now()))?;
        }
        Ok(conn)
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers proceed while one writer commits; NORMAL sync is durable
    // across process crashes and only risks the last commits on power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    // Savepoints' journals (every write of the group commit has one) and sorts in
    // memory rather than in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// A connection on loan; it goes back to the pool when dropped.
pub(crate) struct Pooled {
    conn: Option<Connection>,
    pool: Arc<Inner>,
}

impl Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A connection left inside a transaction (a panic mid-operation) is discarded.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}
