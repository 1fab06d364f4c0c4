//! The channel node's doorbell: when envelopes turn their channels unread, the
//! registrations those channels belong to are queued for polling at once (one work
//! message per request), and a poller waiting in the same process is woken. So a
//! reading lands in seconds, and an idle grid does no polling at all. A channel that
//! is unread already is not queued again: its reader was told when it turned unread,
//! and tells itself if more came while it read (`ChannelMessageStore::read_up_to`).
//!
//! Ringing never fails the write that rang: the envelope is stored whatever happens
//! here. A notification lost to a failure or a crash between the two is what the
//! scheduled run catches. Duplicate notifications are harmless: polling moves a
//! registration's cursor conditionally, so a message is read into the books once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use grid_core::{ChannelRoot, RegistrationId};
use grid_store::{MessageQueue, RegistrationStore, StoreError};
use tokio::sync::Notify;

use super::poller::work_messages;
use crate::ports::Doorbell;

/// The [`Doorbell`] over the poll-work queue: queues polling work for channels that were
/// just written, and wakes a poller waiting in this process.
#[derive(Clone)]
pub struct QueueDoorbell {
    registrations: Arc<dyn RegistrationStore>,
    queue: Arc<dyn MessageQueue>,
    woken: Arc<Notify>,
    /// Channels' registrations looked up already: a root, once bound, backs its
    /// registration for good, so this process never asks twice (on AWS each was a read).
    owners: Arc<Mutex<HashMap<ChannelRoot, RegistrationId>>>,
}

/// Owners remembered at most; past it the memory starts afresh.
const OWNERS_KEPT: usize = 10_000;

impl QueueDoorbell {
    /// Rings through `queue`, and wakes whoever waits on `woken`.
    pub fn new(registrations: Arc<dyn RegistrationStore>, queue: Arc<dyn MessageQueue>, woken: Arc<Notify>) -> Self {
        Self { registrations, queue, woken, owners: Default::default() }
    }

    /// The registration bound to `root`, if any.
    async fn owner(&self, root: &ChannelRoot) -> Result<Option<RegistrationId>, StoreError> {
        if let Some(owner) = self.owners.lock().unwrap_or_else(|p| p.into_inner()).get(root) {
            return Ok(Some(owner.clone()));
        }
        let owner = self.registrations.channel_owner(root).await?;
        if let Some(owner) = &owner {
            let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
            if owners.len() >= OWNERS_KEPT {
                owners.clear();
            }
            owners.insert(root.clone(), owner.clone());
        }
        Ok(owner)
    }
}

#[async_trait]
impl Doorbell for QueueDoorbell {
    /// Polls the registrations bound to the channels that turned unread. A channel that
    /// was unread already has its notification on the way (or the sweep to find it). A
    /// root no registration owns is left alone; its messages are read when one registers
    /// with it.
    async fn ring(&self, stored: usize, turned_unread: Vec<ChannelRoot>) {
        metrics::counter!(crate::metrics::MESSAGES_ATTACHED).increment(stored as u64);
        let roots: BTreeSet<ChannelRoot> = turned_unread.into_iter().collect();
        let mut owners = Vec::with_capacity(roots.len());
        for root in &roots {
            match self.owner(root).await {
                Ok(Some(owner)) => owners.push(owner),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%root, error = %crate::telemetry::cause_chain(&e), "cannot find a channel's registration to notify; the scheduled run will poll it")
                }
            }
        }
        self.poll(owners).await;
    }

    /// Queues `registrations` for polling and wakes the poller.
    async fn poll(&self, registrations: Vec<RegistrationId>) {
        if registrations.is_empty() {
            return;
        }
        match self.queue.send(&work_messages(&registrations)).await {
            Ok(()) => self.woken.notify_one(),
            Err(e) => tracing::warn!(
                registrations = registrations.len(),
                error = %crate::telemetry::cause_chain(&e),
                "cannot queue polling work for new messages; the scheduled run will poll them"
            ),
        }
    }
}
