//! Writing a channel: seal at the next index, move past taken addresses.

use std::sync::Arc;

use grid_core::channel::{ChannelSecrets, Command, EnvelopeError, random_nonce};

use super::{Attached, ChannelClient, ChannelClientError};

/// Publishing a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error(transparent)]
    Client(#[from] ChannelClientError),
    #[error("the command cannot be sealed")]
    Seal(#[from] EnvelopeError),
    #[error("{skipped} addresses in a row from index {from} are taken; the channel looks squatted")]
    Crowded { from: u64, skipped: u64 },
}

/// Writes one channel, remembering where the next message goes.
pub struct ChannelWriter {
    secrets: ChannelSecrets,
    next_index: u64,
    client: Arc<dyn ChannelClient>,
}

impl ChannelWriter {
    /// How many taken addresses a writer skips before giving up.
    const MAX_SKIPS: u64 = 1_000;

    /// A writer that attaches its next message at `next_index`.
    pub fn new(secrets: ChannelSecrets, next_index: u64, client: Arc<dyn ChannelClient>) -> Self {
        Self { secrets, next_index, client }
    }

    /// Where the next message will go.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Publishes `command` at the next free index and returns that index.
    pub async fn publish(&mut self, command: &Command) -> Result<u64, ChannelError> {
        self.publish_with(command, false).await
    }

    /// Publishes `command` unless this writer already published it at a taken index
    /// it meets on the way: safe to repeat for messages a channel carries at most once
    /// (`hello`, `goodbye`), e.g. when retrying after a crash lost the next index.
    pub async fn publish_once(&mut self, command: &Command) -> Result<u64, ChannelError> {
        self.publish_with(command, true).await
    }

    async fn publish_with(&mut self, command: &Command, once: bool) -> Result<u64, ChannelError> {
        let plaintext = command.to_json();
        let from = self.next_index;
        for _ in 0..Self::MAX_SKIPS {
            let index = self.next_index;
            let address = self.secrets.access().address(index);
            let envelope = self.secrets.seal(index, plaintext.as_bytes(), random_nonce())?;
            match self.client.attach(&address, &envelope).await? {
                Attached::Stored => {
                    self.next_index = index + 1;
                    return Ok(index);
                }
                Attached::Taken if once && self.already_there(index, command).await? => {
                    self.next_index = index + 1;
                    return Ok(index);
                }
                Attached::Taken => {
                    tracing::debug!(index, root = %self.secrets.root(), "channel address taken; moving on");
                    self.next_index = index + 1;
                }
            }
        }
        Err(ChannelError::Crowded { from, skipped: Self::MAX_SKIPS })
    }

    /// Whether message `index` is this channel's own (it opens with our keys, so our
    /// seed signed it) and says `command`.
    async fn already_there(&self, index: u64, command: &Command) -> Result<bool, ChannelClientError> {
        let address = self.secrets.access().address(index);
        let found = self.client.fetch(std::slice::from_ref(&address)).await?;
        Ok(found
            .get(&address)
            .and_then(|envelope| self.secrets.access().open(index, envelope).ok())
            .and_then(|plaintext| Command::parse(&plaintext).ok())
            .is_some_and(|existing| existing == *command))
    }
}
