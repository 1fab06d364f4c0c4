//! A source (a solar panel, a battery): opens its channel, registers with its producer,
//! reports what it produced every slot, and says goodbye when it stops.

use grid_core::RegistrationId;
use grid_core::channel::{Command, Reading};

use crate::meter::SlotMeter;
use crate::{AgentError, GridApi, Meter, OwnChannel};

/// A running source.
pub struct Source {
    id: RegistrationId,
    producer: GridApi,
    channel: OwnChannel,
    meter: SlotMeter,
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
        Ok(Self { id, producer, channel, meter: SlotMeter::new(meter, slot_ms) })
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
        self.meter.report(now, &mut self.channel, Command::SourceOutput).await
    }

    /// Ends the channel with `goodbye` and deregisters from the producer.
    pub async fn stop(mut self) -> Result<(), AgentError> {
        self.channel.goodbye().await?;
        self.producer.deregister(&self.id, self.channel.access().side_key()).await?;
        tracing::info!(source = %self.id, "source said goodbye and deregistered");
        Ok(())
    }
}
