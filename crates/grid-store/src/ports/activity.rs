//! Ports for what the jobs record besides money: rejected channel messages and the period
//! reports they archive. Each job's heartbeat has a port of its own,
//! [`heartbeats`](super::heartbeats).

use async_trait::async_trait;
use grid_core::channel::MessageAddress;
use grid_core::intake::RejectReason;
use grid_core::market::PeriodStart;
use grid_core::{EpochMs, RegistrationId};

use crate::error::StoreError;

/// A channel message the grid refused, and why: the reason (a fixed word, as the
/// metrics count it) and the message the operator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub registration: RegistrationId,
    pub channel_index: u64,
    pub address: MessageAddress,
    pub reason: RejectReason,
    pub message: String,
    pub at: EpochMs,
}

/// Keeps rejected messages; recording one twice keeps the first.
#[async_trait]
pub trait RejectionLog: Send + Sync {
    async fn record(&self, rejected: &Rejected) -> Result<(), StoreError>;

    /// A registration's rejections, newest first.
    async fn for_registration(&self, registration: &RegistrationId, limit: usize) -> Result<Vec<Rejected>, StoreError>;

    /// The newest rejections of every registration, newest first: through an index by
    /// time, never by asking each registration.
    async fn recent(&self, limit: usize) -> Result<Vec<Rejected>, StoreError>;
}

/// Keeps settled periods' full reports (every charge and allocation), as JSON.
#[async_trait]
pub trait ReportArchive: Send + Sync {
    /// Stores (or replaces with the identical) report of `period`.
    async fn put(&self, period: PeriodStart, report: &str) -> Result<(), StoreError>;

    async fn get(&self, period: PeriodStart) -> Result<Option<String>, StoreError>;
}
