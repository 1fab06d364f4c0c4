//! The portal's revoked sessions and sign-in attempts in two small tables; each write
//! also drops the rows whose time is past, so neither grows without bound.

use async_trait::async_trait;
use grid_core::EpochMs;
use rusqlite::OptionalExtension;

use super::SqliteDb;
use crate::{SignInLog, StoreError};

/// Revoked sessions (`revoked_sessions`) and attempts per client and window (`sign_in_attempts`).
#[derive(Clone)]
pub struct SqliteSignInLog {
    db: SqliteDb,
}

impl SqliteSignInLog {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SignInLog for SqliteSignInLog {
    async fn revoke(&self, session: &str, until: EpochMs, now: EpochMs) -> Result<(), StoreError> {
        let session = session.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM revoked_sessions WHERE until_ms <= ?1")?.execute([now.get()])?;
                conn.prepare_cached(
                    "INSERT INTO revoked_sessions (session, until_ms) VALUES (?1, ?2)
                     ON CONFLICT (session) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
                )?
                .execute(rusqlite::params![session, until.get()])?;
                Ok(())
            })
            .await
    }

    async fn is_revoked(&self, session: &str, now: EpochMs) -> Result<bool, StoreError> {
        self.db.lookup(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM revoked_sessions WHERE session = ?1 AND until_ms > ?2")?
                .query_row(rusqlite::params![session, now.get()], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    async fn count_failure(&self, client: &str, window_end: EpochMs, now: EpochMs) -> Result<u32, StoreError> {
        let client = client.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM sign_in_attempts WHERE window_end_ms <= ?1")?.execute([now.get()])?;
                let attempts: u32 = conn
                    .prepare_cached(
                        "INSERT INTO sign_in_attempts (client, window_end_ms, attempts) VALUES (?1, ?2, 1)
                         ON CONFLICT (client, window_end_ms) DO UPDATE SET attempts = attempts + 1
                         RETURNING attempts",
                    )?
                    .query_row(rusqlite::params![client, window_end.get()], |row| row.get(0))?;
                Ok(attempts)
            })
            .await
    }

    async fn failures(&self, client: &str, window_end: EpochMs) -> Result<u32, StoreError> {
        self.db.lookup(|conn| {
            Ok(conn
                .prepare_cached("SELECT attempts FROM sign_in_attempts WHERE client = ?1 AND window_end_ms = ?2")?
                .query_row(rusqlite::params![client, window_end.get()], |row| row.get(0))
                .optional()?
                .unwrap_or(0))
        })
    }

    async fn forget_failures(&self, client: &str, window_end: EpochMs) -> Result<(), StoreError> {
        let client = client.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM sign_in_attempts WHERE client = ?1 AND window_end_ms = ?2")?
                    .execute(rusqlite::params![client, window_end.get()])?;
                Ok(())
            })
            .await
    }
}
