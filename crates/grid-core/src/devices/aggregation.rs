//! A producer's aggregation: its sources' readings summed per slot, offered once the
//! slot has ended and a delay for late source data has passed.
//!
//! A reading belongs to the slot containing its start. A reading for a slot already
//! offered is **carried** into the earliest slot not yet offered, so its energy is sold
//! once, a little later, and never dropped. Offering is driven by the clock alone: a
//! source that stops reporting never holds the producer back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Wh;
use crate::channel::Reading;

/// A producer's offer interval `[start, end)`, epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: u64,
    pub end: u64,
}

/// Where a source reading was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the slot its start falls in.
    InSlot(Slot),
    /// Its slot was offered already; counted in the earliest slot still open.
    Carried { late_for: Slot, into: Slot },
}

/// What a producer keeps between runs so a restart neither loses nor repeats energy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorState {
    /// Wh per slot start, for slots not yet offered.
    pub open: BTreeMap<u64, u64>,
    /// Every slot starting before this was offered (or had nothing to offer).
    pub offered_until: Option<u64>,
}

/// Sums readings per slot and says which slots are due.
#[derive(Debug, Clone)]
pub struct Aggregator {
    slot_ms: u64,
    delay_ms: u64,
    state: AggregatorState,
}

impl Aggregator {
    /// Slots of `slot_ms` (at least 1), offered `delay_ms` after they end.
    pub fn new(slot_ms: u64, delay_ms: u64, state: AggregatorState) -> Self {
        Self { slot_ms: slot_ms.max(1), delay_ms, state }
    }

    pub fn state(&self) -> &AggregatorState {
        &self.state
    }

    fn slot_at(&self, start: u64) -> Slot {
        let start = start - start % self.slot_ms;
        Slot { start, end: start + self.slot_ms }
    }

    /// Counts a source reading.
    pub fn add(&mut self, reading: &Reading) -> Placement {
        let own = self.slot_at(reading.start.get());
        let (placement, slot) = match self.state.offered_until {
            Some(until) if own.start < until => {
                let into = self.slot_at(until);
                (Placement::Carried { late_for: own, into }, into)
            }
            _ => (Placement::InSlot(own), own),
        };
        let wh = self.state.open.entry(slot.start).or_insert(0);
        *wh = wh.saturating_add(reading.energy.get());
        placement
    }

    /// The slots due at `now` (ended at least the delay ago), oldest first, with their
    /// energy; empty ones are passed over. They count as offered from here on.
    pub fn due(&mut self, now: u64) -> Vec<(Slot, Wh)> {
        let horizon = now.saturating_sub(self.delay_ms);
        let until = horizon - horizon % self.slot_ms;
        if self.state.offered_until.is_some_and(|offered| offered >= until) {
            return Vec::new();
        }
        self.state.offered_until = Some(until);
        let later = self.state.open.split_off(&until);
        let due = std::mem::replace(&mut self.state.open, later);
        due.into_iter().filter(|(_, wh)| *wh > 0).map(|(start, wh)| (self.slot_at(start), Wh::new(wh))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EpochMs;

    const SLOT: u64 = 60_000;
    const DELAY: u64 = 20_000;

    fn reading(start: u64, wh: u64) -> Reading {
        let at = |ms: u64| EpochMs::parse(ms as i64).unwrap();
        Reading { start: at(start), end: at(start + 30_000), energy: Wh::new(wh) }
    }

    fn slot(start: u64) -> Slot {
        Slot { start, end: start + SLOT }
    }

    #[test]
    fn readings_are_summed_per_slot_and_offered_after_the_delay() {
        let mut aggregator = Aggregator::new(SLOT, DELAY, AggregatorState::default());
        assert_eq!(aggregator.add(&reading(0, 100)), Placement::InSlot(slot(0)));
        aggregator.add(&reading(30_000, 50));
        aggregator.add(&reading(60_000, 7));
        assert_eq!(aggregator.due(SLOT + DELAY - 1), [], "not before the delay has passed");
        assert_eq!(aggregator.due(SLOT + DELAY), [(slot(0), Wh::new(150))]);
        assert_eq!(aggregator.due(SLOT + DELAY), [], "offered once");
        assert_eq!(aggregator.due(3 * SLOT + DELAY), [(slot(SLOT), Wh::new(7))]);
    }

    #[test]
    fn late_data_within_the_delay_is_in_its_slot_and_beyond_it_is_carried() {
        let mut aggregator = Aggregator::new(SLOT, DELAY, AggregatorState::default());
        aggregator.add(&reading(0, 100));
        // Arrives after the slot ended but within the delay: still in its slot.
        assert_eq!(aggregator.add(&reading(40_000, 5)), Placement::InSlot(slot(0)));
        assert_eq!(aggregator.due(SLOT + DELAY), [(slot(0), Wh::new(105))]);
        // Arrives after its slot was offered: carried into the next open slot.
        assert_eq!(aggregator.add(&reading(50_000, 9)), Placement::Carried { late_for: slot(0), into: slot(SLOT) });
        assert_eq!(aggregator.due(2 * SLOT + DELAY), [(slot(SLOT), Wh::new(9))], "sold once, later");
    }

    #[test]
    fn a_silent_source_does_not_hold_back_the_others() {
        let mut aggregator = Aggregator::new(SLOT, DELAY, AggregatorState::default());
        for i in 0..5 {
            aggregator.add(&reading(i * SLOT, 10)); // source A reports every slot
        }
        aggregator.add(&reading(0, 1)); // source B reported once, then went quiet
        let offered = aggregator.due(5 * SLOT + DELAY);
        assert_eq!(offered.len(), 5);
        assert_eq!(offered[0], (slot(0), Wh::new(11)));
        assert!(offered[1..].iter().all(|(_, wh)| *wh == Wh::new(10)));
    }

    #[test]
    fn empty_slots_are_passed_over_and_the_state_survives_a_restart() {
        let mut aggregator = Aggregator::new(SLOT, DELAY, AggregatorState::default());
        aggregator.add(&reading(3 * SLOT, 4));
        assert_eq!(aggregator.due(2 * SLOT + DELAY), []);
        let saved = serde_json::to_string(aggregator.state()).unwrap();
        let mut restarted = Aggregator::new(SLOT, DELAY, serde_json::from_str(&saved).unwrap());
        assert_eq!(restarted.add(&reading(SLOT, 2)), Placement::Carried { late_for: slot(SLOT), into: slot(2 * SLOT) });
        assert_eq!(restarted.due(4 * SLOT + DELAY), [(slot(2 * SLOT), Wh::new(2)), (slot(3 * SLOT), Wh::new(4))]);
    }
}
