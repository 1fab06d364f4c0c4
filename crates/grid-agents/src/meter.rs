//! Where an agent's readings come from: a simulated profile, or meter data replayed
//! from a CSV file.

use std::collections::VecDeque;

use grid_core::EpochMs;
use grid_core::channel::{Command, Reading};
use grid_core::devices::Profile;

use crate::{AgentError, OwnChannel, slot_start};

/// A meter: simulated, or a recording played back.
#[derive(Debug, Clone)]
pub enum Meter {
    /// A profile; `seed` tells meters with the same profile apart.
    Simulated { profile: Profile, seed: u64 },
    /// Recorded readings, in order; each is reported once its end has passed.
    Replay(VecDeque<Reading>),
}

impl Meter {
    /// The readings to report at the end of the slot `[start, end)`: one simulated
    /// reading, or every recorded one that ended by `end`.
    pub fn readings(&mut self, start: u64, end: u64) -> Vec<Reading> {
        match self {
            Self::Simulated { profile, seed } => {
                let (Ok(start), Ok(end)) = (EpochMs::parse(start as i64), EpochMs::parse(end as i64)) else {
                    return Vec::new();
                };
                let energy = profile.energy(start, end, *seed);
                vec![Reading { start, end, energy }]
            }
            Self::Replay(rows) => {
                let mut due = Vec::new();
                while rows.front().is_some_and(|r| r.end.get() <= end) {
                    due.extend(rows.pop_front());
                }
                due
            }
        }
    }
}

/// The most slots an agent catches up on in one step (after a long pause).
const MAX_CATCH_UP: u64 = 96;

/// A meter reported slot by slot on the agent's channel.
pub(crate) struct SlotMeter {
    meter: Meter,
    slot_ms: u64,
    reported_until: Option<u64>,
}

impl SlotMeter {
    pub(crate) fn new(meter: Meter, slot_ms: u64) -> Self {
        Self { meter, slot_ms, reported_until: None }
    }

    /// Publishes, each as `command(reading)`, the readings of the slots that ended by
    /// `now` and were not reported yet; the first call reports the slot that just ended.
    pub(crate) async fn report(
        &mut self,
        now: u64,
        channel: &mut OwnChannel,
        command: impl Fn(Reading) -> Command,
    ) -> Result<Vec<Reading>, AgentError> {
        let slot = self.slot_ms;
        let ended = slot_start(now, slot);
        let first = self.reported_until.unwrap_or(ended.saturating_sub(slot));
        let mut start = first.max(ended.saturating_sub(MAX_CATCH_UP * slot));
        let mut reported = Vec::new();
        while start + slot <= ended {
            for reading in self.meter.readings(start, start + slot) {
                channel.publish(&command(reading)).await?;
                reported.push(reading);
            }
            start += slot;
            // Recorded per slot: a failure later in the loop does not repeat these.
            self.reported_until = Some(start);
        }
        self.reported_until = Some(self.reported_until.unwrap_or(ended).max(ended));
        Ok(reported)
    }
}
