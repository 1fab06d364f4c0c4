//! The one error type of every port, so callers map store failures in one place.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the record not in the expected state: it already
    /// existed, or another writer changed it first. Nothing was written.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// A stored record could not be read back into the domain (a bug or tampering).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A number does not fit where the store keeps it (SQLite's integers are signed 64
    /// bits); nothing was written. Never clamped or wrapped.
    #[error("a value is out of the store's range: {0}")]
    OutOfRange(String),
    /// A storage write would take a registration past its quota; nothing was written.
    #[error(transparent)]
    OverQuota(#[from] grid_core::QuotaExceeded),
    /// The backend itself failed (I/O, network, throttling).
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}
