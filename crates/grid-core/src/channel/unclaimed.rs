//! Channels nobody has claimed, and how much of the node they may take.
//!
//! The node stores envelopes for any root whose signature verifies, and a root costs
//! nothing to make: without a bound, one client wrote 100 new roots a request and
//! would have filled 260 GB an hour. A root is *claimed* when a
//! registration binds it as its channel, or a registered producer claims it for one of
//! its sources; until then its channel is *unclaimed*: it takes only its first
//! [`indexes`](UnclaimedChannels::indexes) indexes (a device's hello and a few more, what
//! it writes before it registers), the node opens only so many new unclaimed channels
//! a day, and each expires, envelopes and all, [`TTL_MS`](UnclaimedChannels::TTL_MS)
//! after its first envelope unless it is claimed by then.

use crate::EpochMs;

/// The bounds on unclaimed channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnclaimedChannels {
    per_day: u64,
}

/// A bound that cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be from 1 to {max} channels a day, got {given}", max = UnclaimedChannels::MAX_PER_DAY)]
pub struct UnclaimedChannelsError {
    given: u64,
}

impl UnclaimedChannels {
    /// How many indexes an unclaimed channel takes: `0..INDEXES`.
    pub const INDEXES: u64 = 16;
    /// How long an unclaimed channel is kept after its first envelope.
    pub const TTL_MS: u64 = DAY_MS;
    pub const DEFAULT_PER_DAY: u64 = 10_000;
    pub const MAX_PER_DAY: u64 = 1_000_000;
    pub const DEFAULT: Self = Self { per_day: Self::DEFAULT_PER_DAY };

    /// At most `per_day` new unclaimed channels a (UTC) day.
    pub fn new(per_day: u64) -> Result<Self, UnclaimedChannelsError> {
        if !(1..=Self::MAX_PER_DAY).contains(&per_day) {
            return Err(UnclaimedChannelsError { given: per_day });
        }
        Ok(Self { per_day })
    }

    /// How many new unclaimed channels the node opens a day. Each lives a day at most,
    /// so at most twice this many are kept at once, of [`INDEXES`](Self::INDEXES)
    /// envelopes each.
    pub fn per_day(&self) -> u64 {
        self.per_day
    }

    /// The day an unclaimed channel opened at `now` is counted in.
    pub fn day(now: EpochMs) -> u64 {
        now.get() / DAY_MS
    }

    /// When a channel opened unclaimed at `now` expires.
    pub fn expires(now: EpochMs) -> EpochMs {
        EpochMs::from_bounded(now.get().saturating_add(Self::TTL_MS))
    }

    /// The day counted for a channel that expires at `expires`.
    pub fn day_of_expiry(expires: EpochMs) -> u64 {
        expires.get().saturating_sub(Self::TTL_MS) / DAY_MS
    }
}

impl Default for UnclaimedChannels {
    fn default() -> Self {
        Self::DEFAULT
    }
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// How many sources' channels one producer may claim.
pub const MAX_SOURCES_PER_PRODUCER: u64 = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_outside_its_range_is_refused() {
        assert!(UnclaimedChannels::new(0).is_err());
        assert!(UnclaimedChannels::new(UnclaimedChannels::MAX_PER_DAY + 1).is_err());
        assert_eq!(UnclaimedChannels::new(5).unwrap().per_day(), 5);
    }

    #[test]
    fn a_channel_is_counted_on_the_day_it_opened_and_expires_a_day_later() {
        let now = EpochMs::from_bounded(3 * DAY_MS + 5);
        let expires = UnclaimedChannels::expires(now);
        assert_eq!(expires.get(), 4 * DAY_MS + 5);
        assert_eq!(UnclaimedChannels::day(now), 3);
        assert_eq!(UnclaimedChannels::day_of_expiry(expires), 3);
    }
}
