//! Registering and removing producers and consumers: the rules around the store.
//!
//! Who may change a registration, what may change, and what removal does are decided
//! here, once, for every front end (HTTP today; the same calls serve the jobs later).
//! Each change is a read followed by a conditional write at the version read, so two
//! concurrent requests cannot both act on the same state.

use std::sync::Arc;

use grid_core::{
    AccessError, ChannelCredentials, EpochMs, ItemName, ItemType, Registration, RegistrationId, RegistrationStatus,
};
use grid_store::{ItemStore, RegistrationStore, StoreError, Versioned};

/// Why a registration request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("registration {0} not found")]
    NotFound(RegistrationId),
    #[error("registration {0} was removed; its id cannot be registered again")]
    Removed(RegistrationId),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("itemType cannot change from {from} to {to}; remove the registration and register a new id")]
    TypeChange { from: ItemType, to: ItemType },
    #[error("registration {0} was changed by another request at the same time; retry")]
    Concurrent(RegistrationId),
    #[error(transparent)]
    Store(StoreError),
}

impl RegistrationError {
    /// A failed conditional write means a concurrent request won; anything else is a fault.
    fn from_write(id: &RegistrationId, e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Self::Concurrent(id.clone()),
            other => Self::Store(other),
        }
    }
}

impl From<StoreError> for RegistrationError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// What a caller asks to be registered.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    pub id: RegistrationId,
    pub item_type: ItemType,
    /// `None` keeps the current name on an update.
    pub name: Option<ItemName>,
    /// `None` keeps the current channel on an update.
    pub channel: Option<ChannelCredentials>,
}

/// The result of a successful `PUT /registration`.
#[derive(Debug, Clone)]
pub enum Registered {
    Created(Registration),
    Updated(Registration),
}

/// The result of a successful removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Storage items deleted with the registration.
    pub items_deleted: u64,
    /// The registration had already been removed; this call only finished the clean-up.
    pub already_removed: bool,
}

/// The registration use cases over their stores.
#[derive(Clone)]
pub struct Registry {
    registrations: Arc<dyn RegistrationStore>,
    items: Arc<dyn ItemStore>,
}

impl Registry {
    pub fn new(registrations: Arc<dyn RegistrationStore>, items: Arc<dyn ItemStore>) -> Self {
        Self { registrations, items }
    }

    /// Creates a registration or updates an active one.
    ///
    /// `presented` is the side key from the `X-Side-Key` header, if any. A side key in
    /// the body that equals the registration's current one proves the same thing, so
    /// a client can safely repeat its own registration request.
    pub async fn register(
        &self,
        request: RegistrationRequest,
        presented: Option<&str>,
        now: EpochMs,
    ) -> Result<Registered, RegistrationError> {
        let Some(Versioned { value: existing, version }) = self.registrations.get(&request.id).await? else {
            // Channels issue: check here that a given channel opens with `hello`, and
            // open a consumer's return channel before the registration is stored.
            let created = Registration::new(request.id, request.item_type, request.name, request.channel, now);
            self.registrations.insert(&created).await.map_err(|e| RegistrationError::from_write(&created.id, e))?;
            return Ok(Registered::Created(created));
        };
        if !existing.is_active() {
            return Err(RegistrationError::Removed(existing.id));
        }
        let body_key = request.channel.as_ref().map(|c| c.side_key.expose());
        existing.authorize_change(presented.or(body_key))?;
        if existing.item_type != request.item_type {
            return Err(RegistrationError::TypeChange { from: existing.item_type, to: request.item_type });
        }
        let mut updated = existing;
        if let Some(name) = request.name {
            updated.name = Some(name);
        }
        if let Some(channel) = request.channel {
            // Channels issue: a new channel must open with `hello` too.
            updated.channel = Some(channel);
        }
        updated.updated = now;
        self.registrations
            .replace(&updated, version)
            .await
            .map_err(|e| RegistrationError::from_write(&updated.id, e))?;
        Ok(Registered::Updated(updated))
    }

    /// Removes a registration (soft delete) and deletes its storage items.
    ///
    /// The registration is marked removed first, so no new item can be stored for it,
    /// then its items are deleted. If deleting items fails, repeating the call with
    /// the same side key finishes the job; to anyone else a removed registration is
    /// simply not found.
    pub async fn remove(
        &self,
        id: &RegistrationId,
        presented: &str,
        now: EpochMs,
    ) -> Result<Removed, RegistrationError> {
        let Some(Versioned { value: existing, version }) = self.registrations.get(id).await? else {
            return Err(RegistrationError::NotFound(id.clone()));
        };
        let already_removed = match existing.status {
            RegistrationStatus::Removed { .. } if existing.is_proven_by(presented) => true,
            RegistrationStatus::Removed { .. } => return Err(RegistrationError::NotFound(id.clone())),
            RegistrationStatus::Active => {
                existing.authorize_removal(presented)?;
                let mut removed = existing;
                removed.status = RegistrationStatus::Removed { at: now };
                removed.updated = now;
                self.registrations
                    .replace(&removed, version)
                    .await
                    .map_err(|e| RegistrationError::from_write(id, e))?;
                // Channels issue: publish `goodbye` on the return channel here.
                false
            }
        };
        let items_deleted = self.items.delete_registration(id).await?;
        Ok(Removed { items_deleted, already_removed })
    }

    /// The registration, if it exists and is active; removed ones are not found.
    pub async fn active(&self, id: &RegistrationId) -> Result<Registration, RegistrationError> {
        match self.registrations.get(id).await? {
            Some(Versioned { value, .. }) if value.is_active() => Ok(value),
            _ => Err(RegistrationError::NotFound(id.clone())),
        }
    }
}
