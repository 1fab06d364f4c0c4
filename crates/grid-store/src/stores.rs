//! Every store of the grid, behind its port, in one value: what the jobs, the HTTP
//! handlers and the portal are given; which adapter family to use (`GRID_STORE`); and the
//! one place each family is put together. A third family adds its adapters, a
//! [`StoreBackend`] variant and its constructor here, and nothing outside this crate.

use std::path::Path;
use std::sync::Arc;

use crate::resources::AwsNames;
use crate::{
    AccountStore, ChannelMessageStore, HeartbeatLog, ItemStore, LeaseStore, MessageQueue, ReadingStore,
    RegistrationStore, RejectionLog, ReportArchive, SettlementStore, SignInLog, StoreError,
};

/// Which adapters hold the grid's state (`GRID_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// One SQLite file in the data directory (`sqlite`, the default).
    Sqlite,
    /// DynamoDB, S3 and SQS, named by the resource variables (`REGISTRATIONS_TABLE`, …);
    /// the SDK reads region, credentials and `AWS_ENDPOINT_URL` itself (`aws`).
    Aws(Box<AwsNames>),
}

/// Why `GRID_STORE` and what it needs cannot be used: the variable, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct BackendError {
    pub variable: &'static str,
    pub reason: String,
}

impl StoreBackend {
    /// `GRID_STORE` and the variables its backend needs, from what `get` knows.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, BackendError> {
        match get("GRID_STORE").filter(|v| !v.is_empty()).as_deref().unwrap_or("sqlite") {
            "sqlite" => Ok(Self::Sqlite),
            "aws" => AwsNames::from_vars(get)
                .map(|names| Self::Aws(Box::new(names)))
                .map_err(|e| BackendError { variable: e.0, reason: e.to_string() }),
            other => Err(BackendError {
                variable: "GRID_STORE",
                reason: format!("{:?} must be \"sqlite\" or \"aws\"", other.chars().take(64).collect::<String>()),
            }),
        }
    }
}

/// Every store of the grid, behind its port.
#[derive(Clone)]
pub struct Stores {
    pub registrations: Arc<dyn RegistrationStore>,
    pub items: Arc<dyn ItemStore>,
    pub channel_messages: Arc<dyn ChannelMessageStore>,
    pub poll_work: Arc<dyn MessageQueue>,
    pub completions: Arc<dyn MessageQueue>,
    pub leases: Arc<dyn LeaseStore>,
    pub readings: Arc<dyn ReadingStore>,
    pub settlements: Arc<dyn SettlementStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub rejections: Arc<dyn RejectionLog>,
    pub archive: Arc<dyn ReportArchive>,
    pub heartbeats: Arc<dyn HeartbeatLog>,
    pub sign_ins: Arc<dyn SignInLog>,
}

impl Stores {
    /// Opens the stores of `backend` (SQLite's in `data_dir`; on AWS with `reading_shards`
    /// partitions per period of readings). On AWS the SDK clients are built here, once per
    /// process (per Lambda cold start).
    pub async fn open(backend: &StoreBackend, data_dir: &Path, reading_shards: u32) -> Result<Self, StoreError> {
        let _ = (data_dir, reading_shards);
        match backend {
            #[cfg(feature = "sqlite")]
            StoreBackend::Sqlite => {
                let db = crate::sqlite::SqliteDb::open(data_dir).await?;
                tracing::info!(path = %db.path().display(), "opened the SQLite store");
                Ok(Self::on_sqlite(&db))
            }
            #[cfg(not(feature = "sqlite"))]
            StoreBackend::Sqlite => Err(StoreError::Backend(
                "GRID_STORE=sqlite needs a build with the `sqlite` feature (gridctl has it, the Lambda functions do not)"
                    .into(),
            )),
            #[cfg(feature = "aws")]
            StoreBackend::Aws(names) => {
                Ok(Self::on_aws(&crate::aws::AwsClients::from_env().await, names, reading_shards))
            }
            #[cfg(not(feature = "aws"))]
            StoreBackend::Aws(_) => Err(StoreError::Backend(
                "GRID_STORE=aws needs a build with the `aws` feature (the Lambda functions have it)".into(),
            )),
        }
    }

    /// The stores in one SQLite database.
    #[cfg(feature = "sqlite")]
    pub fn on_sqlite(db: &crate::sqlite::SqliteDb) -> Self {
        use crate::sqlite::{
            FileReportArchive, SqliteAccountStore, SqliteChannelMessageStore, SqliteHeartbeatLog, SqliteItemStore,
            SqliteLeaseStore, SqliteMessageQueue, SqliteReadingStore, SqliteRegistrationStore, SqliteRejectionLog,
            SqliteSettlementStore, SqliteSignInLog,
        };
        Self {
            registrations: Arc::new(SqliteRegistrationStore::new(db.clone())),
            items: Arc::new(SqliteItemStore::new(db.clone())),
            channel_messages: Arc::new(SqliteChannelMessageStore::new(db.clone())),
            poll_work: Arc::new(SqliteMessageQueue::new(db.clone(), "poll-work")),
            completions: Arc::new(SqliteMessageQueue::new(db.clone(), "completions")),
            leases: Arc::new(SqliteLeaseStore::new(db.clone())),
            readings: Arc::new(SqliteReadingStore::new(db.clone())),
            settlements: Arc::new(SqliteSettlementStore::new(db.clone())),
            accounts: Arc::new(SqliteAccountStore::new(db.clone())),
            rejections: Arc::new(SqliteRejectionLog::new(db.clone())),
            archive: Arc::new(FileReportArchive::new(db)),
            heartbeats: Arc::new(SqliteHeartbeatLog::new(db.clone())),
            sign_ins: Arc::new(SqliteSignInLog::new(db.clone())),
        }
    }

    /// The stores over DynamoDB, S3 and SQS with the given clients.
    #[cfg(feature = "aws")]
    pub fn on_aws(clients: &crate::aws::AwsClients, names: &crate::resources::AwsNames, reading_shards: u32) -> Self {
        use crate::aws::{
            DynamoAccountStore, DynamoChannelMessageStore, DynamoHeartbeatLog, DynamoLeaseStore, DynamoReadingStore,
            DynamoRegistrationStore, DynamoRejectionLog, DynamoSettlementStore, DynamoSignInLog, S3ItemStore,
            S3ReportArchive, SqsMessageQueue,
        };
        tracing::info!(registrations = %names.registrations_table, bucket = %names.bucket, "using the AWS store");
        Self {
            registrations: Arc::new(DynamoRegistrationStore::new(clients, &names.registrations_table)),
            items: Arc::new(S3ItemStore::new(clients, &names.bucket)),
            channel_messages: Arc::new(DynamoChannelMessageStore::new(clients, &names.channel_messages_table)),
            poll_work: Arc::new(SqsMessageQueue::new(
                clients,
                &names.poll_work_queue_url,
                &names.poll_work_dead_letter_url,
            )),
            completions: Arc::new(SqsMessageQueue::new(
                clients,
                &names.completions_queue_url,
                &names.completions_dead_letter_url,
            )),
            leases: Arc::new(DynamoLeaseStore::new(clients, &names.leases_table)),
            readings: Arc::new(DynamoReadingStore::new(
                clients,
                &names.readings_table,
                &names.settlements_table,
                reading_shards,
            )),
            settlements: Arc::new(DynamoSettlementStore::new(clients, &names.settlements_table)),
            accounts: Arc::new(DynamoAccountStore::new(clients, &names.accounts_table, &names.batches_table)),
            rejections: Arc::new(DynamoRejectionLog::new(clients, &names.rejections_table)),
            archive: Arc::new(S3ReportArchive::new(clients, &names.bucket)),
            heartbeats: Arc::new(DynamoHeartbeatLog::new(clients, &names.leases_table)),
            sign_ins: Arc::new(DynamoSignInLog::new(clients, &names.leases_table)),
        }
    }
}
