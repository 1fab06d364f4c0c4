//! What the grid does with a message read from a registration's channel: the poller's
//! rules, apart from its I/O (as [`monitor`](crate::monitor) is for the batch monitor).
//!
//! [`judge`] takes who sent it (the registration's item type), the command and the time,
//! and returns a [`Verdict`]; the poller applies it: stores the reading, records the
//! claim, or records the refusal under its [`RejectReason`].

use crate::channel::{Command, Reading};
use crate::market::ReadingKind;
use crate::{BatchId, EpochMs, Iota, ItemType, PaymentAddress, Price};

/// How far in the future a reading may start (clock skew between device and grid).
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// How many readings one registration may store for a period: a meter reading every
/// second of a 15-minute period stays within it. Without a bound every message became a
/// reading, so one device could fill the readings table.
pub const MAX_READINGS_PER_PERIOD: u32 = 1_000;

/// How many readings a registration stored for its newest period: the poller keeps it
/// with the registration's cursor, so the bound costs no read of its own. A reading of a
/// newer period starts the count again; one of an older period (a late reading) counts
/// against the newest, so no order of periods escapes the bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadingTally {
    pub period: u64,
    pub count: u32,
}

impl ReadingTally {
    /// Counts a reading of the period starting at `period` (ms); `false`, and nothing
    /// counted, once the newest period holds [`MAX_READINGS_PER_PERIOD`].
    pub fn admit(&mut self, period: u64) -> bool {
        if period > self.period {
            *self = Self { period, count: 1 };
            return true;
        }
        if self.count >= MAX_READINGS_PER_PERIOD {
            return false;
        }
        self.count += 1;
        true
    }
}

/// What to do with one channel message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing to keep: a channel's hello.
    Pass,
    /// The channel ends here: nothing after it counts.
    Close,
    /// A reading to store.
    Store {
        kind: ReadingKind,
        reading: Reading,
        /// An output's ask and where it is paid; a usage's bid (`consumerPrice`), if any.
        price: Option<Price>,
        payment_address: Option<PaymentAddress>,
    },
    /// A buyer says ledger batch `batch_id` paid `amount` of its bill.
    Claim { batch_id: BatchId, amount: Iota },
    /// Refused: kept as a rejection for the operator, counted under `reason`.
    Reject { reason: RejectReason, message: String },
}

/// Why a channel message is refused: a few fixed words, the metric's dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Not a message the channel's reader can open or parse.
    Unreadable,
    /// A command this kind of registration does not send.
    NotAllowed,
    /// A reading that starts further ahead than the clocks may disagree.
    InTheFuture,
    /// A payment claim for a batch claimed before.
    ClaimedBefore,
    /// A reading past [`MAX_READINGS_PER_PERIOD`] of its registration's period.
    TooMany,
}

impl RejectReason {
    pub const ALL: [Self; 5] =
        [Self::Unreadable, Self::NotAllowed, Self::InTheFuture, Self::ClaimedBefore, Self::TooMany];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::NotAllowed => "not-allowed",
            Self::InTheFuture => "in-the-future",
            Self::ClaimedBefore => "claimed-before",
            Self::TooMany => "too-many",
        }
    }

    /// The reason [`as_str`](Self::as_str) names, if any.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == word)
    }
}

/// What a registration of `item_type` sending `command` at `now` comes to.
pub fn judge(item_type: ItemType, command: &Command, now: EpochMs) -> Verdict {
    let (kind, reading, price, payment_address) = match (item_type, command) {
        (_, Command::Hello) => return Verdict::Pass,
        (_, Command::Goodbye) => return Verdict::Close,
        (ItemType::Producer | ItemType::Prosumer, Command::ProducerOutput { reading, price, payment_address }) => {
            (ReadingKind::Output, reading, Some(*price), Some(payment_address.clone()))
        }
        (ItemType::Consumer | ItemType::Prosumer, Command::Usage(reading)) => (ReadingKind::Usage, reading, None, None),
        (ItemType::Consumer | ItemType::Prosumer, Command::PricedUsage { reading, bid }) => {
            (ReadingKind::Usage, reading, Some(*bid), None)
        }
        (ItemType::Consumer | ItemType::Prosumer, Command::Payment { batch_id, amount }) => {
            return Verdict::Claim { batch_id: batch_id.clone(), amount: *amount };
        }
        (_, Command::SourceOutput(_)) => {
            let message = "a producer's output needs producerPrice and paymentIdOrAddress".to_owned();
            return Verdict::Reject { reason: RejectReason::NotAllowed, message };
        }
        (item_type, other) => {
            let message = format!("a {item_type} does not send {}", other.name());
            return Verdict::Reject { reason: RejectReason::NotAllowed, message };
        }
    };
    if reading.start.get() > now.get().saturating_add(MAX_CLOCK_SKEW_MS) {
        let message = format!("the reading starts in the future ({} ms)", reading.start);
        return Verdict::Reject { reason: RejectReason::InTheFuture, message };
    }
    Verdict::Store { kind, reading: *reading, price, payment_address }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Wh;

    const NOW: i64 = 1_800_000_000_000;

    fn at(ms: i64) -> EpochMs {
        EpochMs::parse(ms).unwrap()
    }

    fn reading(start: i64) -> Reading {
        Reading { start: at(start), end: at(start + 1000), energy: Wh::new(5) }
    }

    fn offer(start: i64) -> Command {
        Command::ProducerOutput {
            reading: reading(start),
            price: Price::parse(100).unwrap(),
            payment_address: PaymentAddress::parse("wallet-a").unwrap(),
        }
    }

    fn refused(verdict: Verdict) -> Option<RejectReason> {
        match verdict {
            Verdict::Reject { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn a_producer_offers_and_a_consumer_uses_and_pays() {
        let now = at(NOW);
        assert_eq!(
            judge(ItemType::Producer, &offer(NOW - 60_000), now),
            Verdict::Store {
                kind: ReadingKind::Output,
                reading: reading(NOW - 60_000),
                price: Some(Price::parse(100).unwrap()),
                payment_address: Some(PaymentAddress::parse("wallet-a").unwrap()),
            }
        );
        assert_eq!(
            judge(ItemType::Consumer, &Command::Usage(reading(NOW)), now),
            Verdict::Store { kind: ReadingKind::Usage, reading: reading(NOW), price: None, payment_address: None }
        );
        let payment = Command::Payment { batch_id: BatchId::parse("pay-1").unwrap(), amount: Iota::new(7) };
        assert_eq!(
            judge(ItemType::Consumer, &payment, now),
            Verdict::Claim { batch_id: BatchId::parse("pay-1").unwrap(), amount: Iota::new(7) }
        );
    }

    #[test]
    fn a_prosumer_offers_uses_bids_and_pays() {
        let now = at(NOW);
        assert!(matches!(
            judge(ItemType::Prosumer, &offer(NOW), now),
            Verdict::Store { kind: ReadingKind::Output, .. }
        ));
        let bid = Command::PricedUsage { reading: reading(NOW), bid: Price::parse(90).unwrap() };
        assert_eq!(
            judge(ItemType::Prosumer, &bid, now),
            Verdict::Store {
                kind: ReadingKind::Usage,
                reading: reading(NOW),
                price: Some(Price::parse(90).unwrap()),
                payment_address: None,
            }
        );
        assert!(matches!(judge(ItemType::Consumer, &bid, now), Verdict::Store { kind: ReadingKind::Usage, .. }));
        let payment = Command::Payment { batch_id: BatchId::parse("pay-1").unwrap(), amount: Iota::new(7) };
        assert!(matches!(judge(ItemType::Prosumer, &payment, now), Verdict::Claim { .. }));
    }

    #[test]
    fn a_period_takes_so_many_readings_and_an_older_one_counts_against_the_newest() {
        let mut tally = ReadingTally::default();
        for _ in 0..MAX_READINGS_PER_PERIOD {
            assert!(tally.admit(900_000));
        }
        assert!(!tally.admit(900_000), "past the bound");
        assert!(!tally.admit(0), "an older period counts against the newest");
        assert_eq!(tally, ReadingTally { period: 900_000, count: MAX_READINGS_PER_PERIOD });
        assert!(tally.admit(1_800_000), "a newer period starts again");
        assert_eq!(tally, ReadingTally { period: 1_800_000, count: 1 });
        assert!(tally.admit(900_000));
        assert_eq!(tally.count, 2);
    }

    #[test]
    fn hello_passes_and_goodbye_closes_whoever_sends_them() {
        for item_type in ItemType::ALL {
            assert_eq!(judge(item_type, &Command::Hello, at(NOW)), Verdict::Pass);
            assert_eq!(judge(item_type, &Command::Goodbye, at(NOW)), Verdict::Close);
        }
    }

    #[test]
    fn each_kind_of_registration_sends_only_its_own_commands() {
        let now = at(NOW);
        let payment = Command::Payment { batch_id: BatchId::parse("pay-1").unwrap(), amount: Iota::new(7) };
        let bill = Command::PaymentRequest {
            owed: Iota::new(3),
            usage: Wh::new(5),
            payment_address: PaymentAddress::parse("grid-1").unwrap(),
        };
        for (item_type, command) in [
            (ItemType::Producer, Command::Usage(reading(NOW))),
            (ItemType::Producer, Command::PricedUsage { reading: reading(NOW), bid: Price::parse(90).unwrap() }),
            (ItemType::Producer, payment.clone()),
            (ItemType::Prosumer, bill.clone()),
            (ItemType::Consumer, offer(NOW)),
            (ItemType::Consumer, bill.clone()),
            (ItemType::Producer, bill),
        ] {
            assert_eq!(refused(judge(item_type, &command, now)), Some(RejectReason::NotAllowed), "{command:?}");
        }
        let Verdict::Reject { message, .. } = judge(ItemType::Producer, &Command::SourceOutput(reading(NOW)), now)
        else {
            panic!("a source's output from a producer is refused")
        };
        assert!(message.contains("producerPrice"), "says what an offer needs: {message}");
    }

    #[test]
    fn a_reading_may_start_at_most_the_clock_skew_ahead() {
        let now = at(NOW);
        let skew = MAX_CLOCK_SKEW_MS as i64;
        let usage = |start| Command::Usage(reading(start));
        assert!(matches!(judge(ItemType::Consumer, &usage(NOW + skew), now), Verdict::Store { .. }));
        assert_eq!(refused(judge(ItemType::Consumer, &usage(NOW + skew + 1), now)), Some(RejectReason::InTheFuture));
        assert_eq!(refused(judge(ItemType::Producer, &offer(NOW + skew + 1), now)), Some(RejectReason::InTheFuture));
    }

    #[test]
    fn the_reasons_are_the_words_the_metrics_carry() {
        let words: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(words, ["unreadable", "not-allowed", "in-the-future", "claimed-before", "too-many"]);
    }
}
