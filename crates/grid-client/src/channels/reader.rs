//! Reading a channel from a cursor: every readable message once, rejections recorded.

use std::fmt;
use std::sync::Arc;

use grid_core::channel::MAX_BATCH_GET;
use grid_core::channel::{ChannelAccess, Command, CommandError, Envelope, EnvelopeError, MessageAddress};

use super::{ChannelClient, ChannelClientError};

/// A message that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    pub index: u64,
    pub command: Command,
}

/// Why a message present at its address was skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectionReason {
    /// Not a valid message of this channel (forged, tampered, misplaced).
    Envelope(EnvelopeError),
    /// A valid message whose plaintext is not a command.
    Command(CommandError),
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Envelope(e) => e.fmt(f),
            Self::Command(e) => e.fmt(f),
        }
    }
}

/// A message that was present but refused; the reader moved on to the next index.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub index: u64,
    pub address: MessageAddress,
    pub reason: RejectionReason,
}

/// What one read found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadBatch {
    pub messages: Vec<ChannelMessage>,
    pub rejected: Vec<Rejection>,
    /// The cursor to read from next time.
    pub next_index: u64,
    /// The read stopped at a missing address (rather than at the limit).
    pub at_end: bool,
}

/// Reads one channel through a channel node.
pub struct ChannelReader {
    access: ChannelAccess,
    client: Arc<dyn ChannelClient>,
}

/// Addresses looked up at first; each window found full doubles the next, up to
/// [`MAX_BATCH_GET`]. A channel mostly has a message or two new per poll, and every
/// address looked up is a read (a billed one on DynamoDB).
const FIRST_WINDOW: u64 = 2;

impl ChannelReader {
    pub fn new(access: ChannelAccess, client: Arc<dyn ChannelClient>) -> Self {
        Self { access, client }
    }

    /// Reads up to `max` indexes from `from`, fetching in growing batches, and stops at
    /// the first missing address. Each present message is either returned or rejected
    /// with its reason; either way the cursor moves past it.
    pub async fn read(&self, from: u64, max: u64) -> Result<ReadBatch, ChannelClientError> {
        let mut batch = ReadBatch { next_index: from, ..ReadBatch::default() };
        let end = from.saturating_add(max);
        let mut full = FIRST_WINDOW;
        while batch.next_index < end {
            let window = (end - batch.next_index).min(full);
            full = (full * 2).min(MAX_BATCH_GET as u64);
            let addresses: Vec<MessageAddress> =
                (batch.next_index..batch.next_index + window).map(|i| self.access.address(i)).collect();
            let mut found = self.client.fetch(&addresses).await?;
            // The window's messages up to the first missing address, opened together
            // (their signatures are checked as one batch).
            let envelopes: Vec<Envelope> = addresses.iter().map_while(|address| found.remove(address)).collect();
            let at_end = envelopes.len() < addresses.len();
            let opened = self.access.open_many(batch.next_index, &envelopes);
            for (address, opened) in addresses.into_iter().zip(opened) {
                let index = batch.next_index;
                let opened = opened
                    .map_err(RejectionReason::Envelope)
                    .and_then(|plaintext| Command::parse(&plaintext).map_err(RejectionReason::Command));
                match opened {
                    Ok(command) => batch.messages.push(ChannelMessage { index, command }),
                    Err(reason) => {
                        tracing::warn!(root = %self.access.root(), index, %reason, "rejected a channel message");
                        batch.rejected.push(Rejection { index, address, reason });
                    }
                }
                batch.next_index += 1;
            }
            if at_end {
                batch.at_end = true;
                return Ok(batch);
            }
        }
        Ok(batch)
    }
}
