//! What the HTTP APIs are given by the jobs, as ports: the APIs never reach into
//! [`crate::jobs`], the composition root hands them the jobs' adapter.

use async_trait::async_trait;
use grid_core::{ChannelRoot, RegistrationId};

/// Asks for polling when the node stores envelopes or a registration gains a channel.
/// Ringing never fails the write that rang: a notification lost is what the scheduled
/// sweep catches.
#[async_trait]
pub trait Doorbell: Send + Sync {
    /// `stored` envelopes were stored, and with them the channels `turned_unread` turned
    /// unread: their registrations are polled.
    async fn ring(&self, stored: usize, turned_unread: Vec<ChannelRoot>);

    /// Polls `registrations` now.
    async fn poll(&self, registrations: Vec<RegistrationId>);
}
