//! Builds the grid's state from its configuration: the one place adapters are chosen.

use std::sync::Arc;

use grid_store::StoreError;
use grid_store::sqlite::{SqliteChannelLedger, SqliteDb, SqliteItemStore, SqliteRegistrationStore};

use crate::channels::LedgerChannelClient;

use crate::config::{GridConfig, StoreBackend};
use crate::http::AppState;
use crate::registry::Registry;

/// Opens the configured store and assembles the handlers' state.
pub async fn state_from_config(config: &GridConfig) -> Result<AppState, StoreError> {
    match config.store {
        StoreBackend::Sqlite => {
            let db = SqliteDb::open(&config.data_dir).await?;
            tracing::info!(path = %db.path().display(), "opened the SQLite store");
            let registrations = Arc::new(SqliteRegistrationStore::new(db.clone()));
            let items = Arc::new(SqliteItemStore::new(db.clone()));
            let channels = Arc::new(SqliteChannelLedger::new(db));
            let client = Arc::new(LedgerChannelClient::new(channels.clone()));
            Ok(AppState { registry: Registry::new(registrations, items.clone(), client), items, channels })
        }
    }
}
