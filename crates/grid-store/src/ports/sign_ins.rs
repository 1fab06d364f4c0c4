//! Port for the portal's sign-ins: sessions revoked before they expire (logout) and
//! failed sign-in attempts counted per client and time window (throttling).
//!
//! Both live in the store rather than in memory so that every process, and every Lambda
//! instance of the portal, sees the same: a session logged out on one is refused by all,
//! and a client cannot multiply its attempts by landing on many instances.

use async_trait::async_trait;
use grid_core::EpochMs;

use crate::error::StoreError;

/// Revoked sessions and counted sign-in attempts. Times are epoch milliseconds.
#[async_trait]
pub trait SignInLog: Send + Sync {
    /// Revokes session `session`. It is remembered until `until`, when the session
    /// expires anyway; revoking twice is harmless.
    async fn revoke(&self, session: &str, until: EpochMs, now: EpochMs) -> Result<(), StoreError>;

    /// Whether `session` was revoked (and is not yet past the `until` it was revoked to).
    async fn is_revoked(&self, session: &str, now: EpochMs) -> Result<bool, StoreError>;

    /// Counts one failed sign-in by `client` in the window that ends at `window_end`,
    /// and answers how many that window holds, this one included.
    async fn count_failure(&self, client: &str, window_end: EpochMs, now: EpochMs) -> Result<u32, StoreError>;

    /// How many failed sign-ins `client` has in the window that ends at `window_end`.
    async fn failures(&self, client: &str, window_end: EpochMs) -> Result<u32, StoreError>;

    /// Forgets `client`'s failures in that window (it has signed in).
    async fn forget_failures(&self, client: &str, window_end: EpochMs) -> Result<(), StoreError>;
}
