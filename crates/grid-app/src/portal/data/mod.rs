//! What the operator sees, gathered from the stores through the same ports the jobs use.
//! The JSON API serves these structures as they are; the pages render them.
//!
//! Counts and lists come through the stores' indexes (registrations by type, the newest
//! rejections), never by reading every registration, so a page costs the same reads
//! whatever the grid's size.
//!
//! One file per thing the portal shows, each with its views and the queries that fill
//! them: `overview` (the tiles and the health strip), `periods` (settled periods and their
//! reports), `parties` (the producers and consumers), `batches` (the ledger's),
//! `rejections`, `jobs` (their last runs) and `registration` (one in full). Here: what
//! they share.

mod batches;
mod jobs;
mod overview;
mod parties;
mod periods;
mod registration;
mod rejections;

use std::sync::Arc;

use grid_client::channels::ChannelClient;
use grid_core::market::{PeriodLength, Tariff};
use grid_core::{Registration, RegistrationStatus};
use grid_store::Stores;
use serde::Serialize;

pub use batches::BatchRow;
pub use jobs::HeartbeatRow;
pub use overview::{Counts, Health, JobHealth, LateReadings, Overview};
pub use parties::{ConsumerRow, LastReading, ProducerRow};
pub use periods::PeriodPoint;
pub use registration::{Detail, MessageRow, ReadingRow, command_name};
pub use rejections::RejectionRow;

/// The ports the portal reads.
#[derive(Clone)]
pub struct PortalData {
    /// The stores; the work queues for their dead letters.
    pub stores: Stores,
    /// How the portal reads channels.
    pub channel_client: Arc<dyn ChannelClient>,
    pub period: PeriodLength,
    /// `JOB_INTERVAL_SECS`: a job three of these without a run has stopped.
    pub job_interval: std::time::Duration,
    /// `PRICE_CAP`, `FEED_IN_PRICE`, `TARIFF_TIMEZONE`: the tariff in force now.
    pub tariff: Tariff,
}

/// A page of rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: usize,
    pub page_size: usize,
    pub total_items: usize,
    pub total_pages: usize,
}

/// A registration's status as the rows give it.
fn status(r: &Registration) -> &'static str {
    match r.status {
        RegistrationStatus::Active => "active",
        RegistrationStatus::Removed { .. } => "removed",
    }
}

impl Page<Registration> {
    /// The paging figures, without the registrations.
    fn map_empty<T>(&self) -> Page<T> {
        Page {
            items: Vec::new(),
            page: self.page,
            page_size: self.page_size,
            total_items: self.total_items,
            total_pages: self.total_pages,
        }
    }
}
