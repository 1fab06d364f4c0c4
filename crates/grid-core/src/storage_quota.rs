//! How much one registration may keep through the storage API.
//!
//! Storage is the seed's open notebook for devices; without a bound, one client could
//! fill the grid's disk (813 MB in five seconds). The quota is per
//! registration, in items and in bytes of item text, with defaults an honest device
//! never reaches; a write that would pass either is refused whole (413).

/// What a registration holds in storage: items, and bytes of their JSON text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    pub items: u64,
    pub bytes: u64,
}

/// A registration's storage bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageQuota {
    items: u64,
    bytes: u64,
}

/// A quota that cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("must be from 1 to {max} items, got {given}", max = StorageQuota::MAX_ITEMS)]
    Items { given: u64 },
    #[error("must be from 1 KiB to {max} bytes, got {given}", max = StorageQuota::MAX_BYTES)]
    Bytes { given: u64 },
}

/// A write refused because the registration would hold more than its quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    #[error("this registration's storage holds {held} items and may hold at most {quota}; delete some first")]
    Items { held: u64, quota: u64 },
    #[error(
        "this item would bring this registration's storage to {would} bytes, above its quota of {quota}; delete some first"
    )]
    Bytes { would: u64, quota: u64 },
}

impl StorageQuota {
    pub const DEFAULT_ITEMS: u64 = 10_000;
    pub const DEFAULT_BYTES: u64 = 16 * 1024 * 1024;
    pub const MAX_ITEMS: u64 = 10_000_000;
    pub const MAX_BYTES: u64 = 1 << 40;
    /// The largest quota there is.
    pub const MAX: Self = Self { items: Self::MAX_ITEMS, bytes: Self::MAX_BYTES };

    /// A quota of `items` items and `bytes` bytes.
    pub fn new(items: u64, bytes: u64) -> Result<Self, QuotaError> {
        if !(1..=Self::MAX_ITEMS).contains(&items) {
            return Err(QuotaError::Items { given: items });
        }
        if !(1024..=Self::MAX_BYTES).contains(&bytes) {
            return Err(QuotaError::Bytes { given: bytes });
        }
        Ok(Self { items, bytes })
    }

    pub fn items(self) -> u64 {
        self.items
    }

    pub fn bytes(self) -> u64 {
        self.bytes
    }

    /// Whether a registration holding `held` may replace an item of `old` bytes (`None`:
    /// a new item) with one of `new` bytes. A write that shrinks what is held is always
    /// admitted, so a registration over a lowered quota can still tidy up.
    pub fn admit(self, held: StorageUsage, old: Option<u64>, new: u64) -> Result<StorageUsage, QuotaExceeded> {
        let items = held.items + u64::from(old.is_none());
        let bytes = held.bytes.saturating_sub(old.unwrap_or(0)).saturating_add(new);
        if old.is_none() && items > self.items {
            return Err(QuotaExceeded::Items { held: held.items, quota: self.items });
        }
        if bytes > self.bytes && bytes > held.bytes {
            return Err(QuotaExceeded::Bytes { would: bytes, quota: self.bytes });
        }
        Ok(StorageUsage { items, bytes })
    }
}

impl Default for StorageQuota {
    fn default() -> Self {
        Self { items: Self::DEFAULT_ITEMS, bytes: Self::DEFAULT_BYTES }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota() -> StorageQuota {
        StorageQuota::new(2, 2048).unwrap()
    }

    #[test]
    fn a_new_item_counts_once_and_a_replaced_one_only_by_its_change_in_size() {
        let held = StorageUsage { items: 1, bytes: 100 };
        assert_eq!(quota().admit(held, None, 50), Ok(StorageUsage { items: 2, bytes: 150 }));
        assert_eq!(quota().admit(held, Some(100), 40), Ok(StorageUsage { items: 1, bytes: 40 }));
    }

    #[test]
    fn a_write_past_either_bound_is_refused() {
        let full = StorageUsage { items: 2, bytes: 100 };
        assert_eq!(quota().admit(full, None, 1), Err(QuotaExceeded::Items { held: 2, quota: 2 }));
        assert_eq!(quota().admit(full, Some(50), 60), Ok(StorageUsage { items: 2, bytes: 110 }));
        let heavy = StorageUsage { items: 1, bytes: 2000 };
        assert_eq!(quota().admit(heavy, None, 49), Err(QuotaExceeded::Bytes { would: 2049, quota: 2048 }));
        assert_eq!(quota().admit(heavy, None, 48), Ok(StorageUsage { items: 2, bytes: 2048 }));
    }

    #[test]
    fn over_a_lowered_quota_a_write_that_shrinks_is_still_admitted() {
        let over = StorageUsage { items: 5, bytes: 5000 };
        assert_eq!(quota().admit(over, Some(1000), 10), Ok(StorageUsage { items: 5, bytes: 4010 }));
        assert!(quota().admit(over, Some(10), 1000).is_err());
    }

    #[test]
    fn a_quota_outside_its_bounds_is_refused() {
        assert_eq!(StorageQuota::new(0, 4096), Err(QuotaError::Items { given: 0 }));
        assert_eq!(StorageQuota::new(10, 1023), Err(QuotaError::Bytes { given: 1023 }));
        assert!(StorageQuota::new(StorageQuota::MAX_ITEMS, StorageQuota::MAX_BYTES).is_ok());
    }
}
