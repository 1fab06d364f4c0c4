//! Builds the grid from its configuration: the one place adapters are chosen.

use std::sync::Arc;

use grid_client::channels::ChannelClient;
use grid_client::ledger::{HttpLedger, Ledger};
use grid_store::{StoreError, Stores};
use tokio::sync::Notify;

use crate::app::AppState;
use crate::channel_client::StoreChannelClient;
use crate::config::{GridConfig, LedgerConfig};
use crate::http::{ApiParts, ApiState};
use crate::jobs::{BatchMonitor, Poller, QueueDoorbell, Settler};
use crate::members::MembersState;
use crate::portal::{PortalData, PortalState};
use crate::registry::Registry;

/// Why the configured store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the portal token in {parameter} is not valid: {reason}")]
    PortalToken { parameter: String, reason: String },
}

/// Opens the configured store (grid-store chooses and builds the adapters).
pub async fn open_stores(config: &GridConfig) -> Result<Stores, AssemblyError> {
    Ok(Stores::open(&config.store, &config.data_dir, config.market.reading_shards).await?)
}

/// The grid's own way to its channel node.
pub fn channel_client(stores: &Stores) -> Arc<dyn ChannelClient> {
    Arc::new(StoreChannelClient::new(stores.channel_messages.clone()))
}

/// The ledger the batch monitor follows and pays through: its HTTP client, spending with
/// the configured key.
pub fn ledger(config: &LedgerConfig) -> Arc<dyn Ledger> {
    Arc::new(HttpLedger::new(&config.url, config.dialect).with_key(config.key.clone()))
}

/// What the HTTP handlers need.
pub fn app_state(stores: &Stores, config: &GridConfig) -> AppState {
    app_state_waking(stores, config, Arc::new(Notify::new()))
}

/// What the HTTP handlers need, their doorbell waking whoever waits on `woken` (the
/// poller of `gridctl serve`; on Lambda the queue's trigger starts the poller instead).
pub fn app_state_waking(stores: &Stores, config: &GridConfig, woken: Arc<Notify>) -> AppState {
    let registry = Registry::new(
        stores.registrations.clone(),
        stores.items.clone(),
        channel_client(stores),
        stores.channel_messages.clone(),
    )
    .with_open_storage(config.open_storage);
    AppState {
        api: ApiState::new(ApiParts {
            registry: registry.clone(),
            items: stores.items.clone(),
            storage_quota: config.storage_quota,
            unclaimed: config.unclaimed_channels,
            channel_messages: stores.channel_messages.clone(),
            doorbell: Arc::new(QueueDoorbell::new(stores.registrations.clone(), stores.poll_work.clone(), woken)),
        }),
        portal: PortalState {
            data: PortalData {
                stores: stores.clone(),
                channel_client: channel_client(stores),
                period: config.market.period,
                job_interval: config.market.job_interval,
                tariff: config.market.tariff.clone(),
            },
            token: config.portal_token.clone().map(Arc::new),
            sign_ins: stores.sign_ins.clone(),
        },
        members: MembersState { stores: stores.clone(), registry },
    }
}

impl Poller {
    /// The poller over `stores`, as `serve` and the Lambda functions run it.
    pub fn new(stores: &Stores, config: &GridConfig) -> Self {
        Self {
            stores: stores.clone(),
            channel_client: channel_client(stores),
            period: config.market.period,
            concurrency: config.market.poll_concurrency,
            grace: std::time::Duration::from_secs(config.market.grace_secs),
            last_beat: Default::default(),
            last_head: Default::default(),
        }
    }
}

impl BatchMonitor {
    /// The batch monitor over `stores`, following batches on (and paying through) `ledger`.
    pub fn new(stores: &Stores, config: &GridConfig, ledger: Arc<dyn Ledger>) -> Self {
        Self {
            stores: stores.clone(),
            ledger,
            market: config.market.clone(),
            poll_interval: config.market.poll_interval,
        }
    }
}

impl Settler {
    /// Settlement over `stores`.
    pub fn new(stores: &Stores, config: &GridConfig) -> Self {
        Self { stores: stores.clone(), channel_client: channel_client(stores), market: config.market.clone() }
    }
}

/// Opens the configured store and assembles the HTTP handlers' state.
pub async fn state_from_config(config: &GridConfig) -> Result<AppState, AssemblyError> {
    #[cfg(feature = "aws")]
    if let (grid_store::StoreBackend::Aws(names), Some(parameter)) = (&config.store, &config.portal_token_parameter) {
        // The token from Parameter Store, once per cold start; rotating it takes effect
        // as instances start again (docs/deploy.md).
        let clients = grid_store::aws::AwsClients::from_env().await;
        let token = clients.secure_parameter(parameter).await?;
        let token = crate::config::PortalToken::parse(&token)
            .map_err(|e| AssemblyError::PortalToken { parameter: parameter.clone(), reason: e.to_string() })?;
        let config = GridConfig { portal_token: Some(token), ..config.clone() };
        return Ok(app_state(&Stores::on_aws(&clients, names, config.market.reading_shards), &config));
    }
    Ok(app_state(&open_stores(config).await?, config))
}
