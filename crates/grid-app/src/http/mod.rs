//! The grid's HTTP APIs: registration, storage and the channel node, each a router over
//! [`ApiState`]. `crate::app` puts them together with the portal and the members' pages
//! and the layers every route carries.

// Visible to the crate: `app` mounts their routes, the OpenAPI document names their handlers.
pub(crate) mod channels;
pub mod guard;
pub(crate) mod registration;
pub(crate) mod storage;

use std::sync::Arc;

use grid_core::StorageQuota;
use grid_core::channel::UnclaimedChannels;
use grid_store::{ChannelMessageStore, ItemStore};

use crate::ports::Doorbell;
use crate::registry::Registry;

/// What the API handlers share ([`ApiParts`]), behind one `Arc`: axum clones the state
/// for every request.
#[derive(Clone)]
pub struct ApiState(Arc<ApiParts>);

/// The use cases and the stores the handlers read directly.
pub struct ApiParts {
    pub registry: Registry,
    pub items: Arc<dyn ItemStore>,
    /// What each registration may keep in storage.
    pub storage_quota: StorageQuota,
    /// How many new unclaimed channels the node opens a day.
    pub unclaimed: UnclaimedChannels,
    pub channel_messages: Arc<dyn ChannelMessageStore>,
    /// Tells the poller when the node stores envelopes.
    pub doorbell: Arc<dyn Doorbell>,
}

impl ApiState {
    pub fn new(parts: ApiParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for ApiState {
    type Target = ApiParts;

    fn deref(&self) -> &ApiParts {
        &self.0
    }
}
