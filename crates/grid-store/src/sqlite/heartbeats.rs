//! Job heartbeats in SQLite: one row per job in the `heartbeats` table, the report as
//! JSON text (`records::HeartbeatRecord`), so each row reads whichever version wrote it.

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::SqliteDb;
use crate::records::HeartbeatRecord;
use crate::{Heartbeat, HeartbeatLog, Job, StoreError};

/// Job heartbeats in the `heartbeats` table.
#[derive(Clone)]
pub struct SqliteHeartbeatLog {
    db: SqliteDb,
}

impl SqliteHeartbeatLog {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl HeartbeatLog for SqliteHeartbeatLog {
    async fn beat(&self, heartbeat: &Heartbeat) -> Result<(), StoreError> {
        let HeartbeatRecord { job, at_ms, report } = HeartbeatRecord::from(heartbeat);
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO heartbeats (job, at_ms, report) VALUES (?1, ?2, ?3)
                     ON CONFLICT (job) DO UPDATE SET at_ms = excluded.at_ms, report = excluded.report",
                )?
                .execute(rusqlite::params![job.as_str(), at_ms, report])?;
                Ok(())
            })
            .await
    }

    async fn last(&self, job: Job) -> Result<Option<Heartbeat>, StoreError> {
        let row = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT at_ms, report FROM heartbeats WHERE job = ?1")?
                    .query_row([job.as_str()], |row| {
                        Ok(HeartbeatRecord { job, at_ms: row.get(0)?, report: row.get(1)? })
                    })
                    .optional()?)
            })
            .await?;
        row.map(HeartbeatRecord::into_domain).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobReport, SweepReport};

    /// A row as the jobs wrote it before their reports were typed reads as the typed report.
    #[tokio::test]
    async fn a_heartbeat_row_written_as_untyped_json_reads_as_its_jobs_report() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(dir.path()).await.unwrap();
        db.write(|conn| {
            conn.execute(
                "INSERT INTO heartbeats (job, at_ms, report) VALUES ('poller-sweep', 1795860060000, ?1)",
                [r#"{"unread":2,"registrations":1,"messages":1,"marked_read":1,"stalled":0,"lag_seconds":95,"expired":0,"dead_letters":3,"completions_dead_letters":1}"#],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let beat = SqliteHeartbeatLog::new(db).last(Job::PollerSweep).await.unwrap().unwrap();
        assert_eq!(beat.at.get(), 1_795_860_060_000);
        let JobReport::PollerSweep(swept) = beat.report else { panic!("a sweep's report: {beat:?}") };
        assert_eq!(
            swept,
            SweepReport {
                unread: 2,
                registrations: 1,
                messages: 1,
                marked_read: 1,
                lag_seconds: 95,
                dead_letters: 3,
                completions_dead_letters: 1,
                ..SweepReport::default()
            }
        );
    }
}
