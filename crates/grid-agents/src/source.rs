//! A source (a solar panel, a battery): opens its channel, registers with its producer,
//! reports what it produced every slot, and says goodbye when it stops.

use grid_core::RegistrationId;
use grid_core::channel::{Command, Reading};

use crate::{AgentError, GridApi, Meter, OwnChannel, slot_start};

/// The most slots a source catches up on in one step (after a long pause).
const MAX_CATCH_UP: u64 = 96;

/// A running source.
pub struct Source {
    id: RegistrationId,
    producer: GridApi,
    channel: OwnChannel,
    meter: Meter,
    slot_ms: u64,
    reported_until: Option<u64>,
}

impl Source {
    /// Opens the channel with `hello` and registers with the producer.
    pub async fn start(
        id: RegistrationId,
        name: Option<&str>,
        producer: GridApi,
        mut channel: OwnChannel,
        meter: Meter,
        slot_ms: u64,
    ) -> Result<Self, AgentError> {
        channel.hello().await?;
        producer.register(&id, "source", name, channel.access()).await?;
        tracing::info!(source = %id, producer = producer.base(), root = %channel.access().root(), "source registered");
        Ok(Self { id, producer, channel, meter, slot_ms, reported_until: None })
    }

    pub fn id(&self) -> &RegistrationId {
        &self.id
    }

    pub fn channel(&self) -> &OwnChannel {
        &self.channel
    }

    /// Reports the slots that ended by `now` and were not reported yet; the first step
    /// reports the slot that just ended.
    pub async fn step(&mut self, now: u64) -> Result<Vec<Reading>, AgentError> {
        let ended = slot_start(now, self.slot_ms);
        let from = self.reported_until.unwrap_or(ended.saturating_sub(self.slot_ms));
        let from = from.max(ended.saturating_sub(MAX_CATCH_UP * self.slot_ms));
        let mut reported = Vec::new();
        let mut start = from;
        while start + self.slot_ms <= ended {
            for reading in self.meter.readings(start, start + self.slot_ms) {
                self.channel.publish(&Command::SourceOutput(reading)).await?;
                reported.push(reading);
            }
            start += self.slot_ms;
            // Recorded per slot: a failure later in the loop does not repeat these.
            self.reported_until = Some(start);
        }
        self.reported_until = Some(self.reported_until.unwrap_or(from).max(ended));
        Ok(reported)
    }

    /// A replayed recording that has nothing left to report.
    pub fn is_done(&self) -> bool {
        self.meter.is_exhausted()
    }

    /// Ends the channel with `goodbye` and deregisters from the producer.
    pub async fn stop(mut self) -> Result<(), AgentError> {
        self.channel.goodbye().await?;
        self.producer.deregister(&self.id, self.channel.access().side_key()).await?;
        tracing::info!(source = %self.id, "source said goodbye and deregistered");
        Ok(())
    }
}
