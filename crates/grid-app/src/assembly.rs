//! Builds the grid from its configuration: the one place adapters are chosen.

use std::sync::Arc;

use grid_store::{
    AccountStore, ChannelStore, HeartbeatLog, ItemStore, LeaseStore, MessageQueue, ReadingStore, RegistrationStore,
    RejectionLog, ReportArchive, SettlementStore, SignInLog, StoreError,
};

use crate::channels::{ChannelClient, StoreChannelClient};
use crate::config::{GridConfig, StoreBackend};
use crate::http::AppState;
use crate::jobs::{BatchMonitor, Doorbell, Poller, Settler};
use crate::ledger::Ledger;
use crate::portal::{PortalData, PortalState};
use crate::registry::Registry;

/// Why the configured store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("GRID_STORE=aws needs a build with the `aws` feature (the Lambda functions have it)")]
    AwsNotBuilt,
    #[error("GRID_STORE=sqlite needs a build with the `sqlite` feature (gridctl has it, the Lambda functions do not)")]
    SqliteNotBuilt,
    #[error("the portal token in {parameter} is not valid: {reason}")]
    PortalToken { parameter: String, reason: String },
}

/// Every store of the grid, behind its port.
#[derive(Clone)]
pub struct Stores {
    pub registrations: Arc<dyn RegistrationStore>,
    pub items: Arc<dyn ItemStore>,
    pub channels: Arc<dyn ChannelStore>,
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
    /// Opens the configured store. On AWS the SDK clients are built here, once per
    /// process (per Lambda cold start).
    pub async fn open(config: &GridConfig) -> Result<Self, AssemblyError> {
        match &config.store {
            #[cfg(feature = "sqlite")]
            StoreBackend::Sqlite => {
                let db = grid_store::sqlite::SqliteDb::open(&config.data_dir).await?;
                tracing::info!(path = %db.path().display(), "opened the SQLite store");
                Ok(Self::on_sqlite(&db))
            }
            #[cfg(not(feature = "sqlite"))]
            StoreBackend::Sqlite => Err(AssemblyError::SqliteNotBuilt),
            #[cfg(feature = "aws")]
            StoreBackend::Aws(names) => Ok(Self::on_aws(&grid_store::aws::AwsClients::from_env().await, names, config)),
            #[cfg(not(feature = "aws"))]
            StoreBackend::Aws(_) => Err(AssemblyError::AwsNotBuilt),
        }
    }

    /// The stores in one SQLite database.
    #[cfg(feature = "sqlite")]
    pub fn on_sqlite(db: &grid_store::sqlite::SqliteDb) -> Self {
        use grid_store::sqlite::{
            FileReportArchive, SqliteAccountStore, SqliteChannelStore, SqliteHeartbeatLog, SqliteItemStore,
            SqliteLeaseStore, SqliteMessageQueue, SqliteReadingStore, SqliteRegistrationStore, SqliteRejectionLog,
            SqliteSettlementStore, SqliteSignInLog,
        };
        Self {
            registrations: Arc::new(SqliteRegistrationStore::new(db.clone())),
            items: Arc::new(SqliteItemStore::new(db.clone())),
            channels: Arc::new(SqliteChannelStore::new(db.clone())),
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
    pub fn on_aws(
        clients: &grid_store::aws::AwsClients,
        names: &grid_store::resources::AwsNames,
        config: &GridConfig,
    ) -> Self {
        use grid_store::aws::{
            DynamoAccountStore, DynamoChannelStore, DynamoHeartbeatLog, DynamoLeaseStore, DynamoReadingStore,
            DynamoRegistrationStore, DynamoRejectionLog, DynamoSettlementStore, DynamoSignInLog, S3ItemStore,
            S3ReportArchive, SqsMessageQueue,
        };
        tracing::info!(registrations = %names.registrations_table, bucket = %names.bucket, "using the AWS store");
        Self {
            registrations: Arc::new(DynamoRegistrationStore::new(clients, &names.registrations_table)),
            items: Arc::new(S3ItemStore::new(clients, &names.bucket)),
            channels: Arc::new(DynamoChannelStore::new(clients, &names.channel_messages_table)),
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
                config.market.reading_shards,
            )),
            settlements: Arc::new(DynamoSettlementStore::new(clients, &names.settlements_table)),
            accounts: Arc::new(DynamoAccountStore::new(clients, &names.accounts_table, &names.batches_table)),
            rejections: Arc::new(DynamoRejectionLog::new(clients, &names.rejections_table)),
            archive: Arc::new(S3ReportArchive::new(clients, &names.bucket)),
            heartbeats: Arc::new(DynamoHeartbeatLog::new(clients, &names.leases_table)),
            sign_ins: Arc::new(DynamoSignInLog::new(clients, &names.leases_table)),
        }
    }

    /// The grid's own way to its channel node.
    pub fn channel_client(&self) -> Arc<dyn ChannelClient> {
        Arc::new(StoreChannelClient::new(self.channels.clone()))
    }

    /// What the HTTP handlers need.
    pub fn app_state(&self, config: &GridConfig) -> AppState {
        AppState {
            registry: Registry::new(self.registrations.clone(), self.items.clone(), self.channel_client()),
            items: self.items.clone(),
            channels: self.channels.clone(),
            doorbell: Doorbell::new(self.registrations.clone(), self.poll_work.clone()),
            portal: PortalState {
                data: PortalData {
                    registrations: self.registrations.clone(),
                    readings: self.readings.clone(),
                    settlements: self.settlements.clone(),
                    accounts: self.accounts.clone(),
                    rejections: self.rejections.clone(),
                    archive: self.archive.clone(),
                    heartbeats: self.heartbeats.clone(),
                    channels: self.channel_client(),
                    poll_work: self.poll_work.clone(),
                    completions: self.completions.clone(),
                    period: config.market.period,
                    job_interval: config.market.job_interval,
                },
                token: config.portal_token.clone().map(Arc::new),
                sign_ins: self.sign_ins.clone(),
            },
        }
    }

    pub fn poller(&self, config: &GridConfig) -> Poller {
        Poller {
            registrations: self.registrations.clone(),
            readings: self.readings.clone(),
            settlements: self.settlements.clone(),
            accounts: self.accounts.clone(),
            rejections: self.rejections.clone(),
            channels: self.channel_client(),
            node: self.channels.clone(),
            queue: self.poll_work.clone(),
            heartbeats: self.heartbeats.clone(),
            period: config.market.period,
            concurrency: config.market.poll_concurrency,
        }
    }

    /// The batch monitor, following batches on (and paying through) `ledger`.
    pub fn monitor(&self, config: &GridConfig, ledger: Arc<dyn Ledger>) -> BatchMonitor {
        BatchMonitor {
            accounts: self.accounts.clone(),
            settlements: self.settlements.clone(),
            leases: self.leases.clone(),
            completions: self.completions.clone(),
            heartbeats: self.heartbeats.clone(),
            ledger,
            market: config.market.clone(),
            poll_interval: config.market.poll_interval,
        }
    }

    pub fn settler(&self, config: &GridConfig) -> Settler {
        Settler {
            registrations: self.registrations.clone(),
            readings: self.readings.clone(),
            settlements: self.settlements.clone(),
            accounts: self.accounts.clone(),
            archive: self.archive.clone(),
            channels: self.channel_client(),
            leases: self.leases.clone(),
            heartbeats: self.heartbeats.clone(),
            market: config.market.clone(),
        }
    }
}

/// Opens the configured store and assembles the HTTP handlers' state.
pub async fn state_from_config(config: &GridConfig) -> Result<AppState, AssemblyError> {
    #[cfg(feature = "aws")]
    if let (StoreBackend::Aws(names), Some(parameter)) = (&config.store, &config.portal_token_parameter) {
        // The token from Parameter Store, once per cold start; rotating it takes effect
        // as instances start again (docs/deploy.md).
        let clients = grid_store::aws::AwsClients::from_env().await;
        let token = clients.secure_parameter(parameter).await?;
        let token = crate::config::PortalToken::parse(&token)
            .map_err(|e| AssemblyError::PortalToken { parameter: parameter.clone(), reason: e.to_string() })?;
        let config = GridConfig { portal_token: Some(token), ..config.clone() };
        return Ok(Stores::on_aws(&clients, names, &config).app_state(&config));
    }
    Ok(Stores::open(config).await?.app_state(config))
}
