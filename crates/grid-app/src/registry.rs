//! Registering and removing producers and consumers: the rules around the store.
//!
//! Who may change a registration, what may change, and what removal does are decided
//! here, once, for every front end. Each change is a read followed by a conditional
//! write at the version read, so two concurrent requests cannot both act on the same
//! state. Channels come in at three points: a registration that names its channel
//! must show a `hello` at index 0 of it; a consumer gets a return channel from the
//! grid, opened with `hello`; and a removed consumer's return channel ends with
//! `goodbye`. A registration's own channel is claimed at the node when it is bound, and
//! a producer claims its sources' channels here (an unclaimed channel is bounded and
//! expires: `grid_core::channel::UnclaimedChannels`).

use std::sync::Arc;

use grid_core::channel::{ChannelAccess, Command, MAX_SOURCES_PER_PRODUCER};
use grid_core::{
    AccessError, ChannelCredentials, ChannelCursor, ChannelRoot, EpochMs, ItemName, ItemType, Registration,
    RegistrationId, RegistrationStatus, ReturnChannel, SideKey,
};
use grid_store::{ChannelMessageStore, Claim, ItemStore, RegistrationStore, StoreError, Versioned};

use grid_client::channels::{ChannelClient, ChannelError, ChannelReader, ChannelWriter};

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
    #[error("the channel must start with a hello message at index 0: {0}")]
    NoHello(String),
    #[error("this channel is bound to another registration; a channel backs one registration, so open a new one")]
    ChannelTaken,
    #[error("registration id {id} differs only in case from registration {existing}; ids are one in any case")]
    Lookalike { id: RegistrationId, existing: RegistrationId },
    #[error("registration {0} is not a producer; only a producer claims channels for its sources")]
    NotAProducer(RegistrationId),
    #[error("this is the producer's own channel, not a source's")]
    OwnChannel,
    #[error("channel {root} is claimed by another registration")]
    ClaimedByAnother { root: ChannelRoot },
    #[error("this producer holds {most} sources' channels, as many as a producer may; release one first")]
    TooManySources { most: u64 },
    #[error("this producer holds no claim on channel {root}")]
    NotClaimed { root: ChannelRoot },
    #[error("the channel node failed")]
    Channel(#[from] ChannelError),
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

impl Registry {
    /// Refuses a channel whose root another registration holds (DESIGN.md §5: a root
    /// backs one registration, or its readings would count twice).
    async fn check_free(&self, id: &RegistrationId, channel: &ChannelCredentials) -> Result<(), RegistrationError> {
        match self.registrations.channel_owner(&channel.root).await? {
            Some(owner) if owner != *id => Err(RegistrationError::ChannelTaken),
            _ => Ok(()),
        }
    }

    /// A failed write: the root was taken meanwhile, or another request won.
    async fn write_failed(
        &self,
        id: &RegistrationId,
        channel: Option<&ChannelCredentials>,
        e: StoreError,
    ) -> RegistrationError {
        if let (StoreError::Conflict(_), Some(channel)) = (&e, channel)
            && let Err(taken @ RegistrationError::ChannelTaken) = self.check_free(id, channel).await
        {
            return taken;
        }
        if let StoreError::Conflict(_) = &e
            && let Err(lookalike @ RegistrationError::Lookalike { .. }) = self.check_lookalike(id).await
        {
            return lookalike;
        }
        RegistrationError::from_write(id, e)
    }

    /// Refuses an id that differs only in case from a registered one: people cannot tell
    /// `Producer-0001` from `producer-0001` in the portal or a log.
    async fn check_lookalike(&self, id: &RegistrationId) -> Result<(), RegistrationError> {
        match self.registrations.id_owner(id).await? {
            Some(existing) if existing != *id => Err(RegistrationError::Lookalike { id: id.clone(), existing }),
            _ => Ok(()),
        }
    }
}

/// How often a removal reads the registration again after another write moved its version.
const REMOVE_TRIES: u32 = 3;

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

/// The registration use cases over their stores and the channel node.
#[derive(Clone)]
pub struct Registry {
    registrations: Arc<dyn RegistrationStore>,
    items: Arc<dyn ItemStore>,
    channel_client: Arc<dyn ChannelClient>,
    /// The node's store, where channels are claimed.
    channel_messages: Arc<dyn ChannelMessageStore>,
    /// `GRID_OPEN_STORAGE`: storage writes without a key for registrations that have no
    /// channel of their own (the seed's clients; off by default).
    open_storage: bool,
}

impl Registry {
    pub fn new(
        registrations: Arc<dyn RegistrationStore>,
        items: Arc<dyn ItemStore>,
        channel_client: Arc<dyn ChannelClient>,
        channel_messages: Arc<dyn ChannelMessageStore>,
    ) -> Self {
        Self { registrations, items, channel_client, channel_messages, open_storage: false }
    }

    /// Lets registrations without a channel of their own take storage writes without a
    /// key, as the seed did (`GRID_OPEN_STORAGE=true`).
    pub fn with_open_storage(self, open_storage: bool) -> Self {
        Self { open_storage, ..self }
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
            self.check_lookalike(&request.id).await?;
            if let Some(channel) = &request.channel {
                self.check_free(&request.id, channel).await?;
                self.check_hello(channel).await?;
                self.claim(&request.id, &channel.root).await?;
            }
            let mut created = Registration::new(request.id, request.item_type, request.name, request.channel, now);
            if created.item_type.buys() {
                created.return_channel = Some(self.open_return_channel().await?);
            }
            // Owned from the first request: with neither channel, the grid makes the key.
            if created.side_keys().next().is_none() {
                created.management_key = Some(SideKey::generate());
            }
            if let Err(e) = self.registrations.insert(&created).await {
                return Err(self.write_failed(&created.id, created.channel.as_ref(), e).await);
            }
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
        if let Some(channel) = request.channel
            && updated.channel.as_ref() != Some(&channel)
        {
            self.check_free(&updated.id, &channel).await?;
            self.check_hello(&channel).await?;
            self.claim(&updated.id, &channel.root).await?;
            updated.channel = Some(channel);
            updated.cursor = ChannelCursor::default();
        }
        if updated.item_type.buys() && updated.return_channel.is_none() {
            updated.return_channel = Some(self.open_return_channel().await?);
        }
        updated.updated = now;
        if let Err(e) = self.registrations.replace(&updated, version).await {
            return Err(self.write_failed(&updated.id, updated.channel.as_ref(), e).await);
        }
        Ok(Registered::Updated(updated))
    }

    /// Removes a registration (soft delete), ends a consumer's return channel with
    /// `goodbye`, and deletes the registration's storage items.
    ///
    /// The registration is marked removed first, so no new item can be stored for it
    /// and the grid writes nothing more to its return channel. If a later step fails,
    /// repeating the call with the same side key finishes the job without doing any
    /// step twice; to anyone else a removed registration is simply not found.
    pub async fn remove(
        &self,
        id: &RegistrationId,
        presented: &str,
        now: EpochMs,
    ) -> Result<Removed, RegistrationError> {
        let mut tries = 0;
        let (removed, version, already_removed) = loop {
            let Some(Versioned { value: existing, version }) = self.registrations.get(id).await? else {
                return Err(RegistrationError::NotFound(id.clone()));
            };
            match existing.status {
                RegistrationStatus::Removed { .. } if existing.is_proven_by(presented) => {
                    break (existing, version, true);
                }
                RegistrationStatus::Removed { .. } => return Err(RegistrationError::NotFound(id.clone())),
                RegistrationStatus::Active => {
                    existing.authorize_removal(presented)?;
                    let mut removed = existing;
                    removed.status = RegistrationStatus::Removed { at: now };
                    removed.updated = now;
                    match self.registrations.replace(&removed, version).await {
                        Ok(version) => break (removed, version, false),
                        // The poller moves a channel's cursor with each read (a new version),
                        // as it does right after a leaving device's goodbye: read it again.
                        Err(StoreError::Conflict(_)) if tries < REMOVE_TRIES => tries += 1,
                        Err(e) => return Err(RegistrationError::from_write(id, e)),
                    }
                }
            }
        };
        if let Some(return_channel) = &removed.return_channel {
            self.say_goodbye(removed.clone(), return_channel, version).await?;
        }
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

    /// The registration, if it is active and `presented` may change what it owns (its
    /// storage items): a holder of one of its keys, or anyone under `GRID_OPEN_STORAGE`
    /// when it has no channel of its own.
    pub async fn owned(&self, id: &RegistrationId, presented: Option<&str>) -> Result<Registration, RegistrationError> {
        let registration = self.active(id).await?;
        if !(self.open_storage && registration.channel.is_none()) {
            registration.authorize_change(presented)?;
        }
        Ok(registration)
    }

    /// Claims `root` for `producer`'s source (`presented` must be a key of the producer):
    /// the source's channel then takes every index and never expires (DESIGN.md §3).
    pub async fn claim_source(
        &self,
        producer: &RegistrationId,
        root: &ChannelRoot,
        presented: Option<&str>,
    ) -> Result<Claim, RegistrationError> {
        self.source_owner(producer, root, presented).await?;
        match self.channel_messages.claim(root, producer, Some(MAX_SOURCES_PER_PRODUCER)).await? {
            Claim::Taken { .. } => Err(RegistrationError::ClaimedByAnother { root: root.clone() }),
            Claim::TooMany { most } => Err(RegistrationError::TooManySources { most }),
            claimed => Ok(claimed),
        }
    }

    /// Gives up `producer`'s claim on its source's channel `root`: from now the channel
    /// expires as an unclaimed one, keeping what it took while claimed.
    pub async fn release_source(
        &self,
        producer: &RegistrationId,
        root: &ChannelRoot,
        presented: Option<&str>,
        now: EpochMs,
    ) -> Result<(), RegistrationError> {
        self.source_owner(producer, root, presented).await?;
        match self.channel_messages.release(root, producer, now).await? {
            true => Ok(()),
            false => Err(RegistrationError::NotClaimed { root: root.clone() }),
        }
    }

    /// Whether `presented` is a key of the active producer `producer` and `root` is not
    /// its own channel: what a claim on a source's channel needs.
    async fn source_owner(
        &self,
        producer: &RegistrationId,
        root: &ChannelRoot,
        presented: Option<&str>,
    ) -> Result<(), RegistrationError> {
        let registration = self.active(producer).await?;
        registration.authorize_change(presented)?;
        if registration.item_type != ItemType::Producer {
            return Err(RegistrationError::NotAProducer(producer.clone()));
        }
        if registration.channel.as_ref().is_some_and(|channel| &channel.root == root) {
            return Err(RegistrationError::OwnChannel);
        }
        Ok(())
    }

    /// Claims a registration's own channel for it, so the node keeps all of it (an
    /// unclaimed channel takes only its first indexes and expires). Claimed before the
    /// registration is written: a failure between leaves a claim its next request finds
    /// already made.
    async fn claim(&self, id: &RegistrationId, root: &ChannelRoot) -> Result<(), RegistrationError> {
        match self.channel_messages.claim(root, id, None).await? {
            Claim::Claimed | Claim::Already => Ok(()),
            Claim::Taken { .. } | Claim::TooMany { .. } => Err(RegistrationError::ChannelTaken),
        }
    }

    /// Message 0 of `channel` must be a valid `hello`: proof that the registrant holds
    /// the channel's seed and that the grid will be able to read it.
    async fn check_hello(&self, channel: &ChannelCredentials) -> Result<(), RegistrationError> {
        let access = ChannelAccess::new(channel.root.clone(), channel.side_key.clone());
        let read =
            ChannelReader::new(access, self.channel_client.clone()).read(0, 1).await.map_err(ChannelError::from)?;
        match (read.messages.first(), read.rejected.first()) {
            (Some(message), _) if message.command == Command::Hello => Ok(()),
            (Some(message), _) => Err(RegistrationError::NoHello(format!("message 0 is {}", message.command.name()))),
            (None, Some(rejection)) => {
                Err(RegistrationError::NoHello(format!("message 0 is not readable: {}", rejection.reason)))
            }
            (None, None) => {
                Err(RegistrationError::NoHello("there is no message at index 0 for this root and side key".to_owned()))
            }
        }
    }

    /// A new return channel, opened with `hello` at index 0.
    async fn open_return_channel(&self) -> Result<ReturnChannel, RegistrationError> {
        let mut channel = ReturnChannel::generate();
        let mut writer = ChannelWriter::new(channel.secrets(), 0, self.channel_client.clone());
        writer.publish_once(&Command::Hello).await?;
        channel.next_index = writer.next_index();
        Ok(channel)
    }

    /// Publishes `goodbye` on a removed consumer's return channel (once, however often
    /// it is retried) and records where the channel ends.
    async fn say_goodbye(
        &self,
        mut removed: Registration,
        channel: &ReturnChannel,
        version: u64,
    ) -> Result<(), RegistrationError> {
        // Start one message back: if an earlier attempt already said goodbye and recorded
        // the end, that goodbye sits just before `next_index`, and publish_once finds it.
        let from = channel.next_index.saturating_sub(1);
        let mut writer = ChannelWriter::new(channel.secrets(), from, self.channel_client.clone());
        writer.publish_once(&Command::Goodbye).await?;
        if let Some(stored) = removed.return_channel.as_mut() {
            stored.next_index = writer.next_index();
        }
        // Only bookkeeping: a lost race here leaves a smaller next index, which a retry
        // walks past (publish_once finds its own goodbye).
        if let Err(e) = self.registrations.replace(&removed, version).await {
            tracing::warn!(registration = %removed.id, error = %e, "could not record the return channel's end");
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use grid_core::channel::{ChannelSecrets, ChannelSeed};
    use grid_core::intake::ReadingTally;
    use grid_core::{
        ChannelCredentials, ChannelCursor, ChannelRoot, EpochMs, ItemType, Registration, RegistrationId, SideKey,
    };
    use grid_store::sqlite::{SqliteChannelMessageStore, SqliteDb, SqliteItemStore, SqliteRegistrationStore};
    use grid_store::{RegistrationCursor, RegistrationPage, RegistrationStore, StoreError, Versioned};

    use super::Registry;
    use crate::channel_client::StoreChannelClient;

    /// The SQLite registrations, with the poller moving a channel's cursor just before
    /// the first `replace`, as it does when it reads a leaving device's goodbye.
    struct PollerMovesFirst {
        inner: SqliteRegistrationStore,
        moved: AtomicBool,
    }

    #[async_trait]
    impl RegistrationStore for PollerMovesFirst {
        async fn insert(&self, registration: &Registration) -> Result<(), StoreError> {
            self.inner.insert(registration).await
        }
        async fn get(&self, id: &RegistrationId) -> Result<Option<Versioned<Registration>>, StoreError> {
            self.inner.get(id).await
        }
        async fn replace(&self, registration: &Registration, expected_version: u64) -> Result<u64, StoreError> {
            if !self.moved.swap(true, Ordering::SeqCst) {
                let root = &registration.channel.as_ref().expect("a channel").root;
                let (from, to) =
                    (ChannelCursor { next_index: 0, closed: false }, ChannelCursor { next_index: 2, closed: true });
                self.inner.advance_cursor(&registration.id, root, from, to, ReadingTally::default()).await?;
            }
            self.inner.replace(registration, expected_version).await
        }
        async fn advance_cursor(
            &self,
            id: &RegistrationId,
            root: &ChannelRoot,
            from: ChannelCursor,
            to: ChannelCursor,
            tally: ReadingTally,
        ) -> Result<(), StoreError> {
            self.inner.advance_cursor(id, root, from, to, tally).await
        }
        async fn channel_owner(&self, root: &ChannelRoot) -> Result<Option<RegistrationId>, StoreError> {
            self.inner.channel_owner(root).await
        }
        async fn id_owner(&self, id: &RegistrationId) -> Result<Option<RegistrationId>, StoreError> {
            self.inner.id_owner(id).await
        }
        async fn list(&self, after: Option<&RegistrationCursor>, limit: usize) -> Result<RegistrationPage, StoreError> {
            self.inner.list(after, limit).await
        }
        async fn counts(&self) -> Result<grid_store::RegistrationCounts, StoreError> {
            self.inner.counts().await
        }
        async fn of_type(
            &self,
            item_type: grid_core::ItemType,
            skip: usize,
            limit: usize,
        ) -> Result<Vec<Registration>, StoreError> {
            self.inner.of_type(item_type, skip, limit).await
        }
    }

    #[tokio::test]
    async fn removing_a_registration_whose_cursor_the_poller_just_moved_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(dir.path()).await.unwrap();
        let store = Arc::new(PollerMovesFirst { inner: SqliteRegistrationStore::new(db.clone()), moved: false.into() });
        let side_key = SideKey::parse("RegistryRemovalSideKey01").unwrap();
        let secrets = ChannelSecrets::new(&ChannelSeed::from_bytes([7; 32]), side_key.clone());
        let credentials = ChannelCredentials { root: secrets.root().clone(), side_key: side_key.clone() };
        let id = RegistrationId::parse("producer-0001").unwrap();
        let registration = Registration::new(id.clone(), ItemType::Producer, None, Some(credentials), EpochMs::now());
        store.insert(&registration).await.unwrap();
        let channels = Arc::new(SqliteChannelMessageStore::new(db.clone()));
        let registry = Registry::new(
            store.clone(),
            Arc::new(SqliteItemStore::new(db)),
            Arc::new(StoreChannelClient::new(channels.clone())),
            channels,
        );

        let removed = registry.remove(&id, side_key.expose(), EpochMs::now()).await.unwrap();

        assert!(!removed.already_removed);
        let stored = store.get(&id).await.unwrap().unwrap().value;
        assert!(!stored.is_active(), "removed: {:?}", stored.status);
        assert!(stored.cursor.closed, "the poller's cursor move stays");
    }
}
