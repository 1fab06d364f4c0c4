//! The port behind the seed's storage API: JSON items per registration and context.

use async_trait::async_trait;
use grid_core::{ItemId, JsonItem, PageRequest, RegistrationId, StorageContext, StorageQuota};

use crate::error::StoreError;

/// Where an item lives: `storage/{registration}/{context}/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub registration: RegistrationId,
    pub context: StorageContext,
    pub id: ItemId,
}

/// One page of items, in key order (bytewise over `{context}/{id}`, as S3 lists keys).
#[derive(Debug, PartialEq)]
pub struct ItemPage {
    pub items: Vec<(StorageContext, ItemId, JsonItem)>,
    /// How many items the whole listing holds (the context, or the registration).
    pub total_items: u64,
}

/// Keeps the JSON items registrations store through the storage API.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Creates or replaces an item, unless the registration would then hold more than
    /// `quota` ([`StoreError::OverQuota`], nothing written).
    async fn put(&self, key: &ItemKey, item: &JsonItem, quota: StorageQuota) -> Result<(), StoreError>;

    /// Reads an item.
    async fn get(&self, key: &ItemKey) -> Result<Option<JsonItem>, StoreError>;

    /// Deletes an item; `false` if there was none.
    async fn delete(&self, key: &ItemKey) -> Result<bool, StoreError>;

    /// Deletes every item of a context, returning how many there were.
    async fn delete_context(&self, registration: &RegistrationId, context: &StorageContext) -> Result<u64, StoreError>;

    /// Deletes every item of a registration, returning how many there were.
    async fn delete_registration(&self, registration: &RegistrationId) -> Result<u64, StoreError>;

    /// One page of a context's items and the context's total count; with no context,
    /// of every context's items (the seed's `GET /storage/{registrationId}`).
    async fn page(
        &self,
        registration: &RegistrationId,
        context: Option<&StorageContext>,
        page: PageRequest,
    ) -> Result<ItemPage, StoreError>;
}
