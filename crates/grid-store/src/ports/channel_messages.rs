//! The port behind the grid's channel node: write-once storage of envelopes by address.

use std::collections::HashMap;

use async_trait::async_trait;
use grid_core::channel::{Envelope, MessageAddress, UnclaimedChannels};
use grid_core::{ChannelRoot, EpochMs, RegistrationId};

use crate::error::{ConflictKind, StoreError};

/// The most addresses one [`ChannelMessageStore::get_many`] call may ask for.
pub use grid_core::channel::MAX_BATCH_GET;

/// Keeps channel messages. An address, once written, never changes: that is what
/// makes a channel append-only and lets a writer detect a taken index.
///
/// It also keeps the head of each channel devices write (one past the highest index
/// the node was given) and how far its reader has read, so the channels with unread
/// messages can be found without looking at every registration: what the poller's
/// sweep asks for. [`receive`](Self::receive) raises a head with its envelope, never
/// after it, so a message is never stored past a head that does not show it (an
/// adapter that cannot write both at once raises the head first: a crash between the
/// two leaves a head its reader cannot reach yet, polled again, harmless). The grid's
/// own return channels, written with [`attach`](Self::attach), which the grid never
/// reads, have no head.
///
/// A head also says whether its root is claimed ([`claim`](Self::claim)): by the
/// registration whose channel it is, or by a producer for one of its sources. A root
/// nobody claimed gets a head that expires ([`UnclaimedChannels`]): its channel takes
/// only its first indexes, the node opens only so many of them a day, and
/// [`forget_expired`](Self::forget_expired) deletes them, envelopes and all. Heads kept
/// before claims were (on SQLite, schema 19 and older; on DynamoDB, before 2026-12-05)
/// have neither mark and count as claimed.
#[async_trait]
pub trait ChannelMessageStore: Send + Sync {
    /// Stores `envelope` at `address`. Fails with [`StoreError::Conflict`] if the
    /// address is taken, whatever is stored there; nothing is overwritten.
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError>;

    /// Stores each envelope at its address, leaving taken addresses alone: `true` for
    /// each one stored. One `attach` each unless the adapter writes many at once.
    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<bool>, StoreError> {
        let mut stored = Vec::with_capacity(messages.len());
        for (address, envelope) in messages {
            stored.push(match self.attach(address, envelope).await {
                Ok(()) => true,
                Err(e) if e.is_conflict(ConflictKind::Exists) => false,
                Err(e) => return Err(e),
            });
        }
        Ok(stored)
    }

    /// What the node does with the envelopes devices send: stores each at its address
    /// (write-once, as [`attach_many`](Self::attach_many)) and raises its channel's head
    /// past it, so the channel reads as unread (since `now`, if it was read before).
    /// Each answer says whether the address was taken, and whether the envelope turned
    /// its channel unread: only then must its reader be told, for a channel unread
    /// already has a notification on its way (or a sweep to find it). An envelope
    /// [`AHEAD_OF_HEAD`](grid_core::channel::AHEAD_OF_HEAD) or more past its channel's
    /// head as it was before this call is not stored ([`Received::TooFar`]), nor one
    /// past the indexes an unclaimed channel takes, nor one that would open an unclaimed
    /// channel on a day that has all it may ([`Received::Full`]).
    async fn receive(
        &self,
        messages: &[(MessageAddress, Envelope)],
        now: EpochMs,
        unclaimed: UnclaimedChannels,
    ) -> Result<Vec<Received>, StoreError>;

    /// Claims `root` for `owner`: its channel no longer expires and takes every index.
    /// `most`: how many roots `owner` may hold claimed this way (a producer's sources),
    /// or `None` for a registration's own channel, which is not counted. A root with no
    /// head yet gets one.
    async fn claim(&self, root: &ChannelRoot, owner: &RegistrationId, most: Option<u64>) -> Result<Claim, StoreError>;

    /// Gives up `owner`'s claim on `root` (a producer's source, and only such a claim):
    /// from `now` the channel expires as an unclaimed one would; what it took while
    /// claimed stays. `false` if `owner` did not hold it.
    async fn release(&self, root: &ChannelRoot, owner: &RegistrationId, now: EpochMs) -> Result<bool, StoreError>;

    /// Deletes up to `limit` unclaimed channels that expired by `now`: the envelopes
    /// they took, then their heads. How many it deleted.
    async fn forget_expired(&self, now: EpochMs, limit: usize) -> Result<usize, StoreError>;

    /// The envelope at `address`, if any.
    async fn get(&self, address: &MessageAddress) -> Result<Option<Envelope>, StoreError>;

    /// The envelopes at up to [`MAX_BATCH_GET`] addresses; addresses with nothing
    /// stored are absent from the map.
    async fn get_many(&self, addresses: &[MessageAddress]) -> Result<HashMap<MessageAddress, Envelope>, StoreError>;

    /// Channels with messages past what their reader has read: up to `limit` of them,
    /// after `after` in root order.
    async fn unread(&self, after: Option<&ChannelRoot>, limit: usize) -> Result<Vec<UnreadChannel>, StoreError>;

    /// Everything before `next_index` of `root` has been read. The channel stays unread
    /// if a message at or past `next_index` is stored (or is stored meanwhile), and then
    /// the answer is `true`: its reader is still behind, and nobody else will tell it
    /// (see [`receive`](Self::receive)).
    async fn read_up_to(&self, root: &ChannelRoot, next_index: u64) -> Result<bool, StoreError>;
}

/// What [`ChannelMessageStore::receive`] did with one envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Another envelope is stored at its address; nothing changed.
    Taken,
    /// Stored. `turned_unread`: its channel's reader had read everything before it.
    Stored { turned_unread: bool },
    /// Not stored: its index is too far past its channel's head; the node takes indexes
    /// below `limit` on that channel.
    TooFar { limit: u64 },
    /// Not stored: its root is claimed by nobody, and the node opened as many unclaimed
    /// channels today as it may.
    Full,
}

/// What [`ChannelMessageStore::claim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The root is the owner's now.
    Claimed,
    /// It was the owner's already.
    Already,
    /// Another registration holds it.
    Taken { by: RegistrationId },
    /// The owner holds `most` claimed roots already.
    TooMany { most: u64 },
}

/// A channel with messages its reader has not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadChannel {
    pub root: ChannelRoot,
    /// One past the highest index the node was given.
    pub head: u64,
    /// When it last turned unread (from read): how long its reader has been behind.
    /// Absent for a head marked unread before the node kept the time.
    pub since: Option<EpochMs>,
}
