//! Rejected messages in SQLite, and period reports as files beside the database.

use std::path::PathBuf;

use async_trait::async_trait;
use grid_core::channel::MessageAddress;
use grid_core::market::PeriodStart;
use grid_core::{EpochMs, RegistrationId};
use rusqlite::named_params;

use super::SqliteDb;
use crate::records::reject_reason;
use crate::{Rejected, RejectionLog, ReportArchive, StoreError};

/// Rejected channel messages in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteRejectionLog {
    db: SqliteDb,
}

impl SqliteRejectionLog {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl RejectionLog for SqliteRejectionLog {
    async fn record(&self, rejected: &Rejected) -> Result<(), StoreError> {
        let r = rejected.clone();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO rejected_messages (registration_id, channel_index, address, reason, reason_code, rejected_ms)
                     VALUES (:id, :index, :address, :message, :reason, :at) ON CONFLICT DO NOTHING",
                )?
                .execute(named_params! {
                    ":id": r.registration.as_str(), ":index": r.channel_index, ":address": r.address.as_str(),
                    ":message": r.message, ":reason": r.reason.as_str(), ":at": r.at.get(),
                })?;
                Ok(())
            })
            .await
    }

    async fn for_registration(&self, registration: &RegistrationId, limit: usize) -> Result<Vec<Rejected>, StoreError> {
        let id = registration.to_string();
        self.select(
            "SELECT registration_id, channel_index, address, reason, rejected_ms, reason_code FROM rejected_messages
             WHERE registration_id = :id ORDER BY channel_index DESC LIMIT :limit",
            Some(id),
            limit,
        )
        .await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<Rejected>, StoreError> {
        self.select(
            "SELECT registration_id, channel_index, address, reason, rejected_ms, reason_code
             FROM rejected_messages INDEXED BY rejected_messages_recent
             ORDER BY rejected_ms DESC LIMIT :limit",
            None,
            limit,
        )
        .await
    }
}

impl SqliteRejectionLog {
    /// Rejections as `sql` selects them (registration, index, address, message, time,
    /// reason),
    /// given `:limit` and, if `id` is given, `:id`.
    async fn select(&self, sql: &'static str, id: Option<String>, limit: usize) -> Result<Vec<Rejected>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(sql)?;
                let columns = |row: &rusqlite::Row<'_>| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, u64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, Option<String>>(5)?,
                    ))
                };
                let limit = limit as u64;
                let rows: Vec<_> = match id {
                    Some(id) => stmt.query_map(named_params! {":id": id, ":limit": limit}, columns)?.collect(),
                    None => stmt.query_map(named_params! {":limit": limit}, columns)?.collect(),
                };
                rows.into_iter()
                    .map(|row| {
                        let (registration, index, address, message, at, reason) = row?;
                        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("rejection: {e}"));
                        Ok(Rejected {
                            registration: RegistrationId::parse(registration).map_err(|e| corrupt(&e))?,
                            channel_index: index,
                            address: MessageAddress::parse(address).map_err(|e| corrupt(&e))?,
                            reason: reject_reason(reason.as_deref(), &message)?,
                            message,
                            at: EpochMs::parse(at).map_err(|e| corrupt(&e))?,
                        })
                    })
                    .collect()
            })
            .await
    }
}

/// Period reports as `archive/{period}.json` in the data directory.
#[derive(Clone)]
pub struct FileReportArchive {
    dir: PathBuf,
}

impl FileReportArchive {
    /// Reports go to `archive/` beside the database file.
    pub fn new(db: &SqliteDb) -> Self {
        let dir = db.path().parent().map(|p| p.join("archive")).unwrap_or_else(|| PathBuf::from("archive"));
        Self { dir }
    }
}

#[async_trait]
impl ReportArchive for FileReportArchive {
    async fn put(&self, period: PeriodStart, report: &str) -> Result<(), StoreError> {
        let (dir, report) = (self.dir.clone(), report.to_owned());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            // Write aside, then rename: a reader never sees half a report. Each writer
            // has its own aside file, as two runs may archive the same period at once.
            let mut unique = [0u8; 8];
            getrandom::fill(&mut unique).map_err(std::io::Error::other)?;
            let partial = dir.join(format!("{period}.json.{:016x}.partial", u64::from_le_bytes(unique)));
            std::fs::write(&partial, report)?;
            std::fs::rename(&partial, dir.join(format!("{period}.json")))
        })
        .await
        .map_err(StoreError::backend)?
        .map_err(StoreError::backend)
    }

    async fn get(&self, period: PeriodStart) -> Result<Option<String>, StoreError> {
        match tokio::fs::read_to_string(self.dir.join(format!("{period}.json"))).await {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_archiving_the_same_period_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let archive = FileReportArchive::new(&SqliteDb::open(dir.path()).await.unwrap());
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let archive = archive.clone();
                tokio::spawn(async move { archive.put(PeriodStart::parse(7).unwrap(), r#"{"period":7}"#).await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        assert_eq!(archive.get(PeriodStart::parse(7).unwrap()).await.unwrap().as_deref(), Some(r#"{"period":7}"#));
        let left: Vec<_> = std::fs::read_dir(&archive.dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["7.json"], "no aside files left behind");
    }

    /// A row recorded before its reason was stored (the message only) reads the reason
    /// its message tells.
    #[tokio::test]
    async fn a_rejection_row_without_its_reason_reads_the_reason_its_message_tells() {
        use grid_core::intake::RejectReason;
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(dir.path()).await.unwrap();
        db.write(|conn| {
            conn.execute(
                "INSERT INTO rejected_messages (registration_id, channel_index, address, reason, rejected_ms)
                 VALUES ('consumer-0001', 3, ?1, 'batch pay-1 was claimed before', 1795860060000)",
                ["ab".repeat(32)],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let [rejected] = SqliteRejectionLog::new(db).recent(5).await.unwrap().try_into().unwrap();
        assert_eq!(rejected.reason, RejectReason::ClaimedBefore);
        assert_eq!(rejected.message, "batch pay-1 was claimed before");
    }
}
