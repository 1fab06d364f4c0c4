//! The producer's sources: kept in memory for the API and the reading loop, and written
//! through to the grid's storage API (context `sources`), where a restarted producer
//! finds them again — the producer itself keeps no database. Storage reads are open to
//! everyone and a source's side key lets its holder remove the source, so each entry is
//! sealed with the producer's own key ([`ItemSealer`]) before it is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use grid_core::channel::ChannelAccess;
use grid_core::devices::{ItemSealer, SealedItem};
use grid_core::{ChannelRoot, RegistrationId, SideKey};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, MutexGuard};

use crate::{AgentError, GridApi};

/// The storage context of the producer's sources.
const CONTEXT: &str = "sources";

/// A registered source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub name: Option<String>,
    pub access: ChannelAccess,
}

/// The sources by id.
pub type Sources = BTreeMap<RegistrationId, SourceRecord>;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(skip_serializing_if = "Option::is_none")]
    item_name: Option<String>,
    root: String,
    side_key: String,
}

/// The sources of one producer, shared by its API and its reading loop.
#[derive(Clone)]
pub struct SourceBook {
    owner: RegistrationId,
    /// The producer's side key: what lets it write its own storage.
    owner_key: SideKey,
    sealer: ItemSealer,
    grid: GridApi,
    sources: Arc<Mutex<Sources>>,
}

/// Where an entry is stored: what it is sealed to.
fn place(owner: &RegistrationId, id: &str) -> String {
    format!("{owner}/{CONTEXT}/{id}")
}

impl SourceBook {
    /// The sources the producer `owner` stored with the grid, sealed with `sealer`.
    pub async fn load(
        owner: RegistrationId,
        owner_key: SideKey,
        sealer: ItemSealer,
        grid: GridApi,
    ) -> Result<Self, AgentError> {
        let mut sources = BTreeMap::new();
        for (id, value) in grid.items(&owner, CONTEXT).await? {
            let unreadable = |reason: String| AgentError::Unreadable {
                url: format!("{}/storage/{owner}/{CONTEXT}/{id}", grid.base()),
                reason,
            };
            let sealed: SealedItem = serde_json::from_value(value).map_err(|e| unreadable(e.to_string()))?;
            let plain = sealer.open(&place(&owner, &id), &sealed).map_err(|e| unreadable(e.to_string()))?;
            let stored: Stored = serde_json::from_slice(&plain).map_err(|e| unreadable(e.to_string()))?;
            let access = ChannelAccess::new(
                ChannelRoot::parse(stored.root).map_err(|e| unreadable(e.to_string()))?,
                SideKey::parse(stored.side_key).map_err(|e| unreadable(e.to_string()))?,
            );
            let id = RegistrationId::parse(id.clone()).map_err(|e| unreadable(e.to_string()))?;
            sources.insert(id, SourceRecord { name: stored.item_name, access });
        }
        Ok(Self { owner, owner_key, sealer, grid, sources: Arc::new(Mutex::new(sources)) })
    }

    /// Every source now.
    pub async fn all(&self) -> Sources {
        self.sources.lock().await.clone()
    }

    /// Holds the book while a registration is decided, so two requests for one source
    /// do not interleave.
    pub(crate) async fn lock(&self) -> MutexGuard<'_, Sources> {
        self.sources.lock().await
    }

    /// Stores `record` for `id` with the grid, then in memory (the caller holds the lock).
    /// The source's channel is claimed first, so the grid keeps all of it; a channel it
    /// moved from is released after.
    pub(crate) async fn put_locked(
        &self,
        sources: &mut Sources,
        id: &RegistrationId,
        record: SourceRecord,
    ) -> Result<(), AgentError> {
        let root = record.access.root();
        self.grid.claim_source(&self.owner, &self.owner_key, root).await?;
        if let Some(old) = sources.get(id).map(|current| current.access.root().clone()).filter(|old| old != root) {
            self.release(&old).await?;
        }
        let stored = Stored {
            item_name: record.name.clone(),
            root: record.access.root().to_string(),
            side_key: record.access.side_key().expose().to_owned(),
        };
        let plain = serde_json::to_vec(&stored).expect("plain data serializes");
        let sealed = self.sealer.seal(&place(&self.owner, id.as_str()), &plain);
        let value = serde_json::to_value(sealed).expect("plain data serializes");
        self.grid.put_item(&self.owner, &self.owner_key, CONTEXT, id.as_str(), &value).await?;
        sources.insert(id.clone(), record);
        Ok(())
    }

    /// Forgets a source, with the grid and in memory (the caller holds the lock).
    pub(crate) async fn remove_locked(&self, sources: &mut Sources, id: &RegistrationId) -> Result<(), AgentError> {
        self.grid.delete_item(&self.owner, &self.owner_key, CONTEXT, id.as_str()).await?;
        if let Some(removed) = sources.remove(id) {
            self.release(removed.access.root()).await?;
        }
        Ok(())
    }

    /// Gives up the claim on `root`; one released already (a repeated request) is fine.
    async fn release(&self, root: &ChannelRoot) -> Result<(), AgentError> {
        match self.grid.release_source(&self.owner, &self.owner_key, root).await {
            Err(AgentError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }
}
