//! The port that keeps registrations.

use async_trait::async_trait;
use grid_core::intake::ReadingTally;
use grid_core::{ChannelCursor, ChannelRoot, ItemType, Registration, RegistrationId};

use crate::error::StoreError;

/// A record together with the version it was read at.
///
/// Versions start at 1 and grow by one with each successful `replace`; passing the
/// version read back into `replace` is how a read-modify-write stays safe against a
/// concurrent writer (optimistic concurrency, as DynamoDB condition expressions do it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// Where a listing of registrations goes on (opaque to callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationCursor(pub String);

/// One page of registrations, and where the next page starts. The order within and
/// across pages is the backend's own (ids on SQLite, hash order on DynamoDB); following
/// `next` visits every registration exactly once. A page may hold fewer than asked for
/// and still have a next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPage {
    pub registrations: Vec<Versioned<Registration>>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next: Option<RegistrationCursor>,
}

/// How many registrations of one type there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCount {
    pub active: u64,
    pub removed: u64,
}

impl TypeCount {
    pub fn total(self) -> u64 {
        self.active + self.removed
    }
}

/// How many registrations there are, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationCounts {
    pub producers: TypeCount,
    pub consumers: TypeCount,
    pub prosumers: TypeCount,
}

impl RegistrationCounts {
    pub fn of(&self, item_type: ItemType) -> TypeCount {
        match item_type {
            ItemType::Producer => self.producers,
            ItemType::Consumer => self.consumers,
            ItemType::Prosumer => self.prosumers,
        }
    }

    /// The count of `item_type`, to fill in.
    pub fn of_mut(&mut self, item_type: ItemType) -> &mut TypeCount {
        match item_type {
            ItemType::Producer => &mut self.producers,
            ItemType::Consumer => &mut self.consumers,
            ItemType::Prosumer => &mut self.prosumers,
        }
    }
}

/// Keeps registrations, including removed ones (soft delete).
///
/// A channel root backs one registration: the first to name it keeps it, through a
/// channel change and after removal, because its readings were counted under that
/// registration and another one reading the same channel would count them again.
/// `insert` and `replace` bind a registration's root in the same atomic write.
///
/// Ids that differ only in case ([`RegistrationId::folded`]) are one id: `insert` claims
/// the folded form in the same atomic write, so lookalikes never both register.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Stores a new registration at version 1. Fails with [`StoreError::Conflict`] if
    /// the id exists in any status or in another case, or its channel root is bound to
    /// another registration.
    async fn insert(&self, registration: &Registration) -> Result<(), StoreError>;

    /// The registration whose id folds as `id` does (itself, or a lookalike), if any.
    async fn id_owner(&self, id: &RegistrationId) -> Result<Option<RegistrationId>, StoreError>;

    /// Reads a registration, active or removed.
    async fn get(&self, id: &RegistrationId) -> Result<Option<Versioned<Registration>>, StoreError>;

    /// Overwrites a registration if it is still at `expected_version`, returning the
    /// new version. Fails with [`StoreError::Conflict`] if it moved or does not exist,
    /// or its channel root is bound to another registration.
    async fn replace(&self, registration: &Registration, expected_version: u64) -> Result<u64, StoreError>;

    /// The registration a channel root is bound to, if any.
    async fn channel_owner(&self, root: &ChannelRoot) -> Result<Option<RegistrationId>, StoreError>;

    /// Moves the read cursor of `id`'s channel from `from` to `to`, with the readings it
    /// stored for its newest period (`tally`), if the registration still reads the
    /// channel `root` and its cursor is still `from`; otherwise fails with
    /// [`StoreError::Conflict`] (another worker moved it, or the channel changed). Bumps
    /// the version, so a concurrent `replace` cannot write an older cursor back.
    async fn advance_cursor(
        &self,
        id: &RegistrationId,
        root: &ChannelRoot,
        from: ChannelCursor,
        to: ChannelCursor,
        tally: ReadingTally,
    ) -> Result<(), StoreError>;

    /// The registrations among `ids` that exist, in any order. One `get` per id unless
    /// the adapter reads many at once.
    async fn get_many(&self, ids: &[RegistrationId]) -> Result<Vec<Versioned<Registration>>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.get(id).await?);
        }
        Ok(found)
    }

    /// Records where each consumer's return channel is written next, never moving an
    /// index back. Bookkeeping only (a writer that starts too early walks past taken
    /// addresses), so a registration that changed meanwhile is simply left as it is.
    async fn advance_return_channels(&self, next: &[(RegistrationId, u64)]) -> Result<(), StoreError> {
        for (id, index) in next {
            let Some(mut current) = self.get(id).await? else { continue };
            let Some(channel) = current.value.return_channel.as_mut().filter(|c| c.next_index < *index) else {
                continue;
            };
            channel.next_index = *index;
            match self.replace(&current.value, current.version).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Up to `limit` registrations from the cursor `after` (`None`: from the start).
    async fn list(&self, after: Option<&RegistrationCursor>, limit: usize) -> Result<RegistrationPage, StoreError>;

    /// How many registrations there are of each type, active and removed: counted
    /// through an index, never by reading the registrations.
    async fn counts(&self) -> Result<RegistrationCounts, StoreError>;

    /// The registrations of `item_type` (active and removed) in id order, `limit` of
    /// them after the first `skip`: through an index, reading only those it returns (and
    /// the keys it skips).
    async fn of_type(&self, item_type: ItemType, skip: usize, limit: usize) -> Result<Vec<Registration>, StoreError>;
}
