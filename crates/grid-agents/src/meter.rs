//! Where an agent's readings come from: a simulated profile, or meter data replayed
//! from a CSV file.

use std::collections::VecDeque;

use grid_core::channel::Reading;
use grid_core::devices::Profile;
use grid_core::{EpochMs, Wh};

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

    /// A recording with nothing left to play.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Self::Replay(rows) if rows.is_empty())
    }

    /// The total of some readings.
    pub fn total(readings: &[Reading]) -> Wh {
        Wh::new(readings.iter().map(|r| r.energy.get()).sum())
    }
}
