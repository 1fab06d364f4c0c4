//! The one error type of every port, so callers map store failures in one place.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the record not in the expected state (which way:
    /// [`Conflict::kind`]). Nothing was written.
    #[error("conflicting write: {0}")]
    Conflict(Conflict),
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

    /// A conflict of `kind`; `what` says, for people, what was in the way.
    pub fn conflict(kind: ConflictKind, what: impl Into<String>) -> Self {
        Self::Conflict(Conflict { kind, what: what.into() })
    }

    /// Whether this is a conflict of `kind`.
    pub fn is_conflict(&self, kind: ConflictKind) -> bool {
        matches!(self, Self::Conflict(conflict) if conflict.kind == kind)
    }
}

/// What a conditional write found in its way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct Conflict {
    pub kind: ConflictKind,
    pub what: String,
}

/// The ways a conditional write can find its record not as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// A write-once record is written already (a channel message's address).
    Exists,
    /// A value that must be unique belongs to a record already: a registration's id (or
    /// one differing only in case) or its channel root.
    Taken,
    /// Another writer moved the record on since it was read: a registration's version,
    /// a channel cursor, the settlement head.
    ///
    /// A store that cannot tell which of a write's conditions failed (DynamoDB's
    /// transactions) names the write's own: `Taken` for a new registration, `Moved` for
    /// a replaced one; the registry then asks who holds the root or the id.
    Moved,
}
