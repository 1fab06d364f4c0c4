//! Builds the grid's state from its configuration: the one place adapters are chosen.

use std::sync::Arc;

use grid_store::sqlite::{SqliteChannelLedger, SqliteDb, SqliteItemStore, SqliteRegistrationStore};
use grid_store::{ChannelLedger, ItemStore, RegistrationStore, StoreError};

use crate::channels::LedgerChannelClient;
use crate::config::{GridConfig, StoreBackend};
use crate::http::AppState;
use crate::registry::Registry;

/// Why the configured store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("GRID_STORE=aws needs a build with the `aws` feature (the Lambda functions have it)")]
    AwsNotBuilt,
}

/// Opens the configured store and assembles the handlers' state. On AWS the SDK
/// clients are built here, once per process (per Lambda cold start).
pub async fn state_from_config(config: &GridConfig) -> Result<AppState, AssemblyError> {
    let (registrations, items, channels): (Arc<dyn RegistrationStore>, Arc<dyn ItemStore>, Arc<dyn ChannelLedger>) =
        match &config.store {
            StoreBackend::Sqlite => {
                let db = SqliteDb::open(&config.data_dir).await?;
                tracing::info!(path = %db.path().display(), "opened the SQLite store");
                (
                    Arc::new(SqliteRegistrationStore::new(db.clone())),
                    Arc::new(SqliteItemStore::new(db.clone())),
                    Arc::new(SqliteChannelLedger::new(db)),
                )
            }
            #[cfg(feature = "aws")]
            StoreBackend::Aws(names) => {
                use grid_store::aws::{AwsClients, DynamoChannelLedger, DynamoRegistrationStore, S3ItemStore};
                let clients = AwsClients::from_env().await;
                tracing::info!(registrations = %names.registrations_table, bucket = %names.bucket, "using the AWS store");
                (
                    Arc::new(DynamoRegistrationStore::new(&clients, &names.registrations_table)),
                    Arc::new(S3ItemStore::new(&clients, &names.bucket)),
                    Arc::new(DynamoChannelLedger::new(&clients, &names.channel_messages_table)),
                )
            }
            #[cfg(not(feature = "aws"))]
            StoreBackend::Aws(_) => return Err(AssemblyError::AwsNotBuilt),
        };
    let client = Arc::new(LedgerChannelClient::new(channels.clone()));
    Ok(AppState { registry: Registry::new(registrations, items.clone(), client), items, channels })
}
