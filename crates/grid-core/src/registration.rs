//! A producer or consumer registered with the grid, and who may change it.

use crate::channel::{ChannelSecrets, ChannelSeed};
use crate::intake::ReadingTally;
use crate::{ChannelRoot, EpochMs, ItemName, ItemType, RegistrationId, SideKey};

/// The channel an entity publishes on: what the grid needs to find and read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCredentials {
    pub root: ChannelRoot,
    pub side_key: SideKey,
}

/// The channel the grid writes to a consumer (payment requests), and owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnChannel {
    pub seed: ChannelSeed,
    pub side_key: SideKey,
    /// Where the grid writes next; addresses below it are known to be taken.
    pub next_index: u64,
    /// The seed's public key, kept beside it: deriving it is a scalar multiplication,
    /// as costly as signing, and settlement writes to every billed consumer's channel.
    public_key: [u8; 32],
}

impl ReturnChannel {
    /// A fresh channel with a random seed and side key, nothing written yet.
    pub fn generate() -> Self {
        Self::new(ChannelSeed::generate(), SideKey::generate(), 0)
    }

    /// The channel of `seed` and `side_key`, written up to `next_index`.
    pub fn new(seed: ChannelSeed, side_key: SideKey, next_index: u64) -> Self {
        let public_key = *ChannelSecrets::new(&seed, side_key.clone()).public_key();
        Self { seed, side_key, next_index, public_key }
    }

    /// [`new`](Self::new), with the seed's public key as it was stored beside it (the
    /// store's own record: it is not derived again).
    pub fn with_public_key(seed: ChannelSeed, public_key: [u8; 32], side_key: SideKey, next_index: u64) -> Self {
        Self { seed, side_key, next_index, public_key }
    }

    /// The seed's public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The keys to write (and read) it.
    pub fn secrets(&self) -> ChannelSecrets {
        ChannelSecrets::with_public_key(&self.seed, self.public_key, self.side_key.clone())
    }
}

/// How far the grid has read an entity's channel: the next index to read, and whether
/// the channel has said `goodbye` (then the grid stops polling it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCursor {
    pub next_index: u64,
    pub closed: bool,
}

/// Whether a registration takes part in the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationStatus {
    Active,
    /// Deregistered. Its readings and accounts stay (money is never lost), but for
    /// the APIs it no longer exists and its id is not handed out again.
    Removed {
        at: EpochMs,
    },
}

/// Why a caller may not change or remove a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("this {0} registration is protected by its side key; send the key in the X-Side-Key header")]
    SideKeyRequired(&'static str),
    #[error("the side key does not match this registration")]
    WrongSideKey,
    #[error(
        "this registration was made before every registration had a key and has none, so nobody can change or \
         remove it; register a new id"
    )]
    NoSideKey,
}

/// A registered producer or consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: RegistrationId,
    pub name: Option<ItemName>,
    pub item_type: ItemType,
    pub created: EpochMs,
    pub updated: EpochMs,
    pub status: RegistrationStatus,
    /// The entity's own channel, which the grid polls for output or usage.
    pub channel: Option<ChannelCredentials>,
    /// A consumer's return channel, written by the grid.
    pub return_channel: Option<ReturnChannel>,
    /// Where the grid is in reading `channel`; starts again at 0 when the channel changes.
    pub cursor: ChannelCursor,
    /// Readings stored for its newest period (the poller's bound), kept with the cursor.
    pub tally: ReadingTally,
    /// The key the grid made for a registration created with neither a channel of its
    /// own nor a return channel, so that it is owned from its first request (DESIGN.md
    /// §4, "Ownership"). It stays a key of the registration when a channel comes later.
    pub management_key: Option<SideKey>,
}

impl Registration {
    /// A new, active registration.
    pub fn new(
        id: RegistrationId,
        item_type: ItemType,
        name: Option<ItemName>,
        channel: Option<ChannelCredentials>,
        now: EpochMs,
    ) -> Self {
        Self {
            id,
            name,
            item_type,
            created: now,
            updated: now,
            status: RegistrationStatus::Active,
            channel,
            return_channel: None,
            cursor: ChannelCursor::default(),
            tally: ReadingTally::default(),
            management_key: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == RegistrationStatus::Active
    }

    /// Whether the poller reads this registration's channel: active, with a channel
    /// that has not said goodbye.
    pub fn is_polled(&self) -> bool {
        self.is_active() && self.channel.is_some() && !self.cursor.closed
    }

    /// The side keys that prove a caller speaks for this registration: its own
    /// channel's, its return channel's and its management key (the last two the grid
    /// handed only to it).
    pub fn side_keys(&self) -> impl Iterator<Item = &SideKey> {
        let own = self.channel.as_ref().map(|c| &c.side_key);
        let returned = self.return_channel.as_ref().map(|c| &c.side_key);
        own.into_iter().chain(returned).chain(self.management_key.as_ref())
    }

    /// The key the grid answers the registrant with when it creates the registration:
    /// the return channel's or the management key (a registration made with its own
    /// channel is answered nothing: its registrant holds that channel's key).
    pub fn issued_key(&self) -> Option<&SideKey> {
        self.return_channel.as_ref().map(|c| &c.side_key).or(self.management_key.as_ref())
    }

    /// Whether `presented` is one of this registration's side keys (constant time
    /// per key; every key is compared so the answer does not reveal which matched).
    pub fn is_proven_by(&self, presented: &str) -> bool {
        self.side_keys().fold(false, |found, key| key.matches(presented) | found)
    }

    /// May a caller presenting `presented` (if anything) change this registration or
    /// what it owns? Only a holder of one of its keys. A registration stored before
    /// every registration had a key has none, and nobody may change it (decisions.md:
    /// "Ownership from the first request").
    pub fn authorize_change(&self, presented: Option<&str>) -> Result<(), AccessError> {
        if self.side_keys().next().is_none() {
            return Err(AccessError::NoSideKey);
        }
        match presented {
            None => Err(AccessError::SideKeyRequired(self.item_type.as_str())),
            Some(key) if self.is_proven_by(key) => Ok(()),
            Some(_) => Err(AccessError::WrongSideKey),
        }
    }

    /// May a caller presenting `presented` remove this registration? Removal always
    /// needs a side key, so a registration without one cannot be removed by anyone.
    pub fn authorize_removal(&self, presented: &str) -> Result<(), AccessError> {
        if self.side_keys().next().is_none() {
            return Err(AccessError::NoSideKey);
        }
        if self.is_proven_by(presented) { Ok(()) } else { Err(AccessError::WrongSideKey) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "SIDEKEYSIDEKEY0001";

    fn producer(channel: bool) -> Registration {
        let channel = channel.then(|| ChannelCredentials {
            root: ChannelRoot::parse("ab".repeat(32)).unwrap(),
            side_key: SideKey::parse(KEY).unwrap(),
        });
        Registration::new(
            RegistrationId::parse("producer-1").unwrap(),
            ItemType::Producer,
            None,
            channel,
            EpochMs::parse(1).unwrap(),
        )
    }

    #[test]
    fn a_registration_without_any_key_can_be_changed_by_nobody() {
        assert_eq!(producer(false).authorize_change(None), Err(AccessError::NoSideKey));
        assert_eq!(producer(false).authorize_change(Some("whatever")), Err(AccessError::NoSideKey));
    }

    #[test]
    fn a_management_key_proves_its_registration_and_is_the_key_it_was_issued() {
        let mut r = producer(false);
        r.management_key = Some(SideKey::parse(KEY).unwrap());
        assert_eq!(r.authorize_change(None), Err(AccessError::SideKeyRequired("producer")));
        assert_eq!(r.authorize_change(Some("SIDEKEYSIDEKEY0002")), Err(AccessError::WrongSideKey));
        assert_eq!(r.authorize_change(Some(KEY)), Ok(()));
        assert_eq!(r.issued_key().map(SideKey::expose), Some(KEY));
    }

    #[test]
    fn changing_a_registration_with_a_side_key_requires_that_key() {
        let r = producer(true);
        assert_eq!(r.authorize_change(None), Err(AccessError::SideKeyRequired("producer")));
        assert_eq!(r.authorize_change(Some("SIDEKEYSIDEKEY0002")), Err(AccessError::WrongSideKey));
        assert_eq!(r.authorize_change(Some(KEY)), Ok(()));
    }

    #[test]
    fn removal_requires_the_side_key_and_a_keyless_registration_cannot_be_removed() {
        assert_eq!(producer(true).authorize_removal(KEY), Ok(()));
        assert_eq!(producer(true).authorize_removal("nope"), Err(AccessError::WrongSideKey));
        assert_eq!(producer(false).authorize_removal(KEY), Err(AccessError::NoSideKey));
    }

    #[test]
    fn a_consumer_is_proven_by_its_return_channel_key_too() {
        let mut consumer = producer(true);
        consumer.item_type = ItemType::Consumer;
        let returned = ReturnChannel::generate();
        let return_key = returned.side_key.expose().to_owned();
        consumer.return_channel = Some(returned);
        assert_eq!(consumer.authorize_removal(&return_key), Ok(()));
        assert_eq!(consumer.authorize_removal(KEY), Ok(()));
        assert_eq!(consumer.authorize_removal("SomeOtherKey000000"), Err(AccessError::WrongSideKey));
    }

    #[test]
    fn a_new_registration_is_active() {
        let r = producer(false);
        assert!(r.is_active());
        assert_eq!(r.created, r.updated);
    }
}
