//! Flat forms of domain records, shared by every adapter.
//!
//! An adapter maps a record to its columns or attributes and back; turning a
//! record into the domain runs it through the same parsers as outside input, so a
//! tampered or corrupt row is reported, never trusted. Keeping this in one place
//! means SQLite and DynamoDB cannot disagree about what a valid record is.

use grid_core::channel::{ChannelSeed, Reading};
use grid_core::intake::{ReadingTally, RejectReason};
use grid_core::market::{
    CommunityFigures, ConsensusStrategy, MarketRules, PeriodStart, PriceSource, ReadingKind, SettlementRecord,
    StoredReading,
};
use grid_core::{
    ChannelCredentials, ChannelCursor, ChannelRoot, EpochMs, Iota, ItemName, ItemType, PaymentAddress, Price,
    Registration, RegistrationId, RegistrationStatus, ReturnChannel, SideKey, Wh,
};

use crate::error::StoreError;
use crate::ports::heartbeats::{Heartbeat, Job, JobReport};
use crate::ports::registrations::Versioned;

/// A registration as stored: plain strings and integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationRecord {
    pub id: String,
    pub item_name: Option<String>,
    pub item_type: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub removed_ms: Option<u64>,
    pub channel_root: Option<String>,
    pub channel_side_key: Option<String>,
    pub return_seed: Option<String>,
    pub return_side_key: Option<String>,
    pub return_next_index: Option<u64>,
    /// The return channel's public key (hex); absent in records written before it was
    /// kept, where it is derived from the seed.
    pub return_public_key: Option<String>,
    pub cursor_next_index: u64,
    pub cursor_closed: bool,
    /// The key the grid made for a registration with no channel (DESIGN.md §4).
    pub management_key: Option<String>,
    /// The readings stored for its newest period (0, 0 before the bound was kept).
    pub tally_period: u64,
    pub tally_count: u32,
}

impl From<&Registration> for RegistrationRecord {
    fn from(r: &Registration) -> Self {
        Self {
            id: r.id.as_str().to_owned(),
            item_name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            item_type: r.item_type.as_str().to_owned(),
            created_ms: r.created.get(),
            updated_ms: r.updated.get(),
            removed_ms: match r.status {
                RegistrationStatus::Active => None,
                RegistrationStatus::Removed { at } => Some(at.get()),
            },
            channel_root: r.channel.as_ref().map(|c| c.root.as_str().to_owned()),
            channel_side_key: r.channel.as_ref().map(|c| c.side_key.expose().to_owned()),
            return_seed: r.return_channel.as_ref().map(|c| c.seed.expose_hex()),
            return_side_key: r.return_channel.as_ref().map(|c| c.side_key.expose().to_owned()),
            return_next_index: r.return_channel.as_ref().map(|c| c.next_index),
            return_public_key: r.return_channel.as_ref().map(|c| hex::encode(c.public_key())),
            cursor_next_index: r.cursor.next_index,
            cursor_closed: r.cursor.closed,
            management_key: r.management_key.as_ref().map(|k| k.expose().to_owned()),
            tally_period: r.tally.period,
            tally_count: r.tally.count,
        }
    }
}

impl RegistrationRecord {
    /// Validates the record back into the domain.
    pub fn into_domain(self, version: u64) -> Result<Versioned<Registration>, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("registration {:?}: {what}: {e}", self.id))
        };
        let time = |what: &str, ms: u64| {
            i64::try_from(ms)
                .map_err(|e| corrupt(what, &e))
                .and_then(|ms| EpochMs::parse(ms).map_err(|e| corrupt(what, &e)))
        };
        let channel = match (&self.channel_root, &self.channel_side_key) {
            (Some(root), Some(key)) => Some(ChannelCredentials {
                root: ChannelRoot::parse(root.as_str()).map_err(|e| corrupt("channel root", &e))?,
                side_key: SideKey::parse(key.as_str()).map_err(|e| corrupt("side key", &e))?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("channel", &"root and side key must be stored together")),
        };
        let return_channel = match (&self.return_seed, &self.return_side_key, self.return_next_index) {
            (Some(seed), Some(key), Some(next_index)) => {
                let seed = ChannelSeed::from_hex(seed).map_err(|e| corrupt("return seed", &e))?;
                let side_key = SideKey::parse(key.as_str()).map_err(|e| corrupt("return side key", &e))?;
                Some(match &self.return_public_key {
                    Some(key) => {
                        let mut public_key = [0u8; 32];
                        hex::decode_to_slice(key, &mut public_key).map_err(|e| corrupt("return public key", &e))?;
                        ReturnChannel::with_public_key(seed, public_key, side_key, next_index)
                    }
                    None => ReturnChannel::new(seed, side_key, next_index),
                })
            }
            (None, None, None) => None,
            _ => return Err(corrupt("return channel", &"seed, side key and index must be stored together")),
        };
        let registration = Registration {
            id: RegistrationId::parse(self.id.as_str()).map_err(|e| corrupt("id", &e))?,
            name: self.item_name.clone().map(ItemName::parse).transpose().map_err(|e| corrupt("name", &e))?,
            item_type: ItemType::parse(&self.item_type).map_err(|e| corrupt("type", &e))?,
            created: time("created", self.created_ms)?,
            updated: time("updated", self.updated_ms)?,
            status: match self.removed_ms {
                None => RegistrationStatus::Active,
                Some(at) => RegistrationStatus::Removed { at: time("removed", at)? },
            },
            channel,
            return_channel,
            cursor: ChannelCursor { next_index: self.cursor_next_index, closed: self.cursor_closed },
            tally: ReadingTally { period: self.tally_period, count: self.tally_count },
            management_key: self
                .management_key
                .as_deref()
                .map(SideKey::parse)
                .transpose()
                .map_err(|e| corrupt("management key", &e))?,
        };
        Ok(Versioned { value: registration, version })
    }
}

/// A settlement record as stored: plain numbers and names. Records of periods settled
/// as a pool (before DESIGN.md §6's market) lack the market's fields: they read as 0,
/// and `rules` as `pool`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SettlementRow {
    pub period: u64,
    #[serde(default = "pool")]
    pub rules: String,
    #[serde(default)]
    pub strategy: Option<String>,
    pub price: u64,
    pub price_source: String,
    pub produced: u64,
    #[serde(default)]
    pub admitted: u64,
    pub used: u64,
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub imported: u64,
    #[serde(default)]
    pub exported: u64,
    pub revenue: u64,
    pub fee: u64,
    pub distributable: u64,
    pub unallocated: u64,
    pub producers: u64,
    pub consumers: u64,
    pub payment_address: String,
    pub settled: u64,
    /// The community's figures: absent (0) in records settled before 2026-12-05.
    #[serde(default)]
    pub cap: u64,
    #[serde(default)]
    pub feed_in: u64,
    #[serde(default)]
    pub self_consumed: u64,
    #[serde(default)]
    pub self_sufficiency_bps: u64,
    #[serde(default)]
    pub self_consumption_bps: u64,
    #[serde(default)]
    pub savings: u64,
    #[serde(default)]
    pub gains: i64,
}

fn pool() -> String {
    "pool".to_owned()
}

impl From<&SettlementRecord> for SettlementRow {
    fn from(r: &SettlementRecord) -> Self {
        Self {
            period: r.period.get(),
            rules: r.rules.as_str().to_owned(),
            strategy: r.strategy.map(|s| s.as_str().to_owned()),
            price: r.price.get(),
            price_source: r.price_source.as_str().to_owned(),
            produced: r.produced.get(),
            admitted: r.admitted.get(),
            used: r.used.get(),
            matched: r.matched.get(),
            imported: r.imported.get(),
            exported: r.exported.get(),
            revenue: r.revenue.get(),
            fee: r.fee.get(),
            distributable: r.distributable.get(),
            unallocated: r.unallocated.get(),
            producers: r.producers,
            consumers: r.consumers,
            payment_address: r.payment_address.to_string(),
            settled: r.settled.get(),
            cap: r.community.cap.get(),
            feed_in: r.community.feed_in.get(),
            self_consumed: r.community.self_consumed.get(),
            self_sufficiency_bps: r.community.self_sufficiency_bps,
            self_consumption_bps: r.community.self_consumption_bps,
            savings: r.community.savings.get(),
            gains: r.community.gains,
        }
    }
}

impl SettlementRow {
    pub fn into_domain(self) -> Result<SettlementRecord, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("settlement {}: {what}: {e}", self.period))
        };
        Ok(SettlementRecord {
            period: PeriodStart::parse(self.period).map_err(|e| corrupt("period", &e))?,
            rules: MarketRules::from_name(&self.rules).ok_or_else(|| corrupt("rules", &self.rules))?,
            strategy: self
                .strategy
                .as_deref()
                .map(ConsensusStrategy::parse)
                .transpose()
                .map_err(|e| corrupt("strategy", &e))?,
            price: Price::parse(self.price).map_err(|e| corrupt("price", &e))?,
            price_source: PriceSource::from_name(&self.price_source)
                .ok_or_else(|| corrupt("price source", &self.price_source))?,
            produced: Wh::new(self.produced),
            admitted: Wh::new(self.admitted),
            used: Wh::new(self.used),
            matched: Wh::new(self.matched),
            imported: Wh::new(self.imported),
            exported: Wh::new(self.exported),
            revenue: Iota::new(self.revenue),
            fee: Iota::new(self.fee),
            distributable: Iota::new(self.distributable),
            unallocated: Iota::new(self.unallocated),
            producers: self.producers,
            consumers: self.consumers,
            payment_address: PaymentAddress::parse(self.payment_address.as_str())
                .map_err(|e| corrupt("payment address", &e))?,
            settled: i64::try_from(self.settled)
                .ok()
                .and_then(|ms| EpochMs::parse(ms).ok())
                .ok_or_else(|| corrupt("settled", &self.settled))?,
            community: CommunityFigures {
                cap: Price::parse(self.cap).map_err(|e| corrupt("cap", &e))?,
                feed_in: Price::parse(self.feed_in).map_err(|e| corrupt("feed-in", &e))?,
                self_consumed: Wh::new(self.self_consumed),
                self_sufficiency_bps: self.self_sufficiency_bps,
                self_consumption_bps: self.self_consumption_bps,
                savings: Iota::new(self.savings),
                gains: self.gains,
            },
        })
    }
}

/// A reading as stored: plain strings and numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadingRow {
    pub registration: String,
    pub kind: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub wh: u64,
    pub price: Option<u64>,
    pub payment_address: Option<String>,
    pub channel_index: u64,
    pub period: u64,
    pub counted_in: u64,
    pub party: Option<String>,
}

impl From<&StoredReading> for ReadingRow {
    fn from(r: &StoredReading) -> Self {
        Self {
            registration: r.registration.as_str().to_owned(),
            kind: r.kind.as_str().to_owned(),
            start_ms: r.reading.start.get(),
            end_ms: r.reading.end.get(),
            wh: r.reading.energy.get(),
            price: r.price.map(|p| p.get()),
            payment_address: r.payment_address.as_ref().map(|a| a.to_string()),
            channel_index: r.channel_index,
            period: r.period.get(),
            counted_in: r.counted_in.get(),
            party: r.party.map(|t| t.as_str().to_owned()),
        }
    }
}

impl ReadingRow {
    pub fn into_domain(self) -> Result<StoredReading, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("reading {}/{}/{}: {what}: {e}", self.registration, self.kind, self.start_ms))
        };
        let time = |ms: u64| i64::try_from(ms).ok().and_then(|ms| EpochMs::parse(ms).ok());
        Ok(StoredReading {
            registration: RegistrationId::parse(self.registration.as_str()).map_err(|e| corrupt("registration", &e))?,
            kind: ReadingKind::from_name(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?,
            reading: Reading {
                start: time(self.start_ms).ok_or_else(|| corrupt("start", &self.start_ms))?,
                end: time(self.end_ms).ok_or_else(|| corrupt("end", &self.end_ms))?,
                energy: Wh::new(self.wh),
            },
            price: self.price.map(Price::parse).transpose().map_err(|e| corrupt("price", &e))?,
            payment_address: self
                .payment_address
                .clone()
                .map(PaymentAddress::parse)
                .transpose()
                .map_err(|e| corrupt("payment address", &e))?,
            channel_index: self.channel_index,
            period: PeriodStart::parse(self.period).map_err(|e| corrupt("period", &e))?,
            counted_in: PeriodStart::parse(self.counted_in).map_err(|e| corrupt("counted in", &e))?,
            party: self.party.as_deref().map(ItemType::parse).transpose().map_err(|e| corrupt("party", &e))?,
        })
    }
}

/// A heartbeat as stored: its job's name (the key), when the run ended, and the report
/// as JSON text, the report alone (the key says whose it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeartbeatRecord {
    pub job: Job,
    pub at_ms: u64,
    pub report: String,
}

impl From<&Heartbeat> for HeartbeatRecord {
    fn from(h: &Heartbeat) -> Self {
        Self { job: h.job(), at_ms: h.at.get(), report: serde_json::to_string(&h.report).expect("reports serialize") }
    }
}

impl HeartbeatRecord {
    /// Reads the report as its job's: a field it lacks reads as 0 (reports written before
    /// the field was added), one the report no longer has is ignored.
    pub fn into_domain(self) -> Result<Heartbeat, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("heartbeat of {}: {what}: {e}", self.job))
        };
        fn read<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
            serde_json::from_str(text)
        }
        let text = self.report.as_str();
        let report = match self.job {
            Job::PollerSweep => read(text).map(JobReport::PollerSweep),
            Job::PollerDispatch => read(text).map(JobReport::PollerDispatch),
            Job::Poller => read(text).map(JobReport::Poller),
            Job::Settlement => read(text).map(JobReport::Settlement),
            Job::BatchMonitor => read(text).map(JobReport::BatchMonitor),
            Job::LateReadings => read(text).map(JobReport::LateReadings),
        }
        .map_err(|e| corrupt("report", &e))?;
        let at = i64::try_from(self.at_ms)
            .ok()
            .and_then(|ms| EpochMs::parse(ms).ok())
            .ok_or_else(|| corrupt("at", &self.at_ms))?;
        Ok(Heartbeat { at, report })
    }
}

/// A rejection's reason as stored: its word, or (rows recorded before the reason was
/// stored, 2026-12-05) none, when the message it was recorded with tells it: each
/// reason's messages are the poller's own fixed sentences, and anything else was a
/// message the reader could not open.
pub(crate) fn reject_reason(code: Option<&str>, message: &str) -> Result<RejectReason, StoreError> {
    if let Some(code) = code {
        return RejectReason::parse(code)
            .ok_or_else(|| StoreError::Corrupt(format!("rejection reason {code:?} is not one the grid gives")));
    }
    Ok(if message.starts_with("the reading starts in the future") {
        RejectReason::InTheFuture
    } else if message.contains("readings one registration may store") {
        RejectReason::TooMany
    } else if message.starts_with("batch ") && message.ends_with(" was claimed before") {
        RejectReason::ClaimedBefore
    } else if message.starts_with("a producer's output needs") || message.contains(" does not send ") {
        RejectReason::NotAllowed
    } else {
        RejectReason::Unreadable
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DispatchReport, LateReport, MonitorReport, PollReport, SettledPeriod, SettledPeriods, SweepReport};

    fn stored(job: Job, report: &str) -> Result<Heartbeat, StoreError> {
        HeartbeatRecord { job, at_ms: 1_795_860_060_000, report: report.to_owned() }.into_domain()
    }

    fn report(job: Job, text: &str) -> JobReport {
        stored(job, text).unwrap().report
    }

    /// The reports exactly as the jobs wrote them before they were typed (serde's field
    /// order; the settlement's through `json!`, keys sorted): each reads as the typed
    /// report, and the typed report writes the same JSON back.
    #[test]
    fn heartbeats_written_as_untyped_json_read_as_typed_reports_and_write_the_same_json() {
        let sweep = r#"{"unread":3,"registrations":2,"messages":1,"marked_read":1,"stalled":1,"lag_seconds":95,"expired":4,"dead_letters":5,"completions_dead_letters":6}"#;
        let dispatch = r#"{"registrations":40,"waiting":7,"messages":1}"#;
        let poll = r#"{"registrations":1,"messages":3,"stored":2,"duplicates":1,"late":1,"rejected":1,"payments":1,"closed":0}"#;
        let settlement = r#"{"settled":[{"exported":0,"fee":8,"imported":266,"matched":2734,"period":1795860000000,"price":130,"revenue":355}]}"#;
        let monitor = r#"{"skipped":false,"rounds":1,"asked":4,"requests_failed":0,"not_final":1,"resent":0,"stalled":0,"verified":2,"rejected":1,"payouts_submitted":1,"payouts_committed":1,"payouts_refused":0,"pending":2,"payouts_pending":1}"#;
        let late = r#"{"late":2}"#;
        let expected = [
            (
                Job::PollerSweep,
                sweep,
                JobReport::PollerSweep(SweepReport {
                    unread: 3,
                    registrations: 2,
                    messages: 1,
                    marked_read: 1,
                    stalled: 1,
                    lag_seconds: 95,
                    expired: 4,
                    dead_letters: 5,
                    completions_dead_letters: 6,
                }),
            ),
            (
                Job::PollerDispatch,
                dispatch,
                JobReport::PollerDispatch(DispatchReport { registrations: 40, waiting: 7, messages: 1 }),
            ),
            (
                Job::Poller,
                poll,
                JobReport::Poller(PollReport {
                    registrations: 1,
                    messages: 3,
                    stored: 2,
                    duplicates: 1,
                    late: 1,
                    rejected: 1,
                    payments: 1,
                    closed: 0,
                }),
            ),
            (
                Job::Settlement,
                settlement,
                JobReport::Settlement(SettledPeriods {
                    settled: vec![SettledPeriod {
                        period: PeriodStart::parse(1_795_860_000_000).unwrap(),
                        price: Price::parse(130).unwrap(),
                        matched: Wh::new(2734),
                        imported: Wh::new(266),
                        exported: Wh::ZERO,
                        revenue: Iota::new(355),
                        fee: Iota::new(8),
                    }],
                }),
            ),
            (
                Job::BatchMonitor,
                monitor,
                JobReport::BatchMonitor(MonitorReport {
                    rounds: 1,
                    asked: 4,
                    not_final: 1,
                    verified: 2,
                    rejected: 1,
                    payouts_submitted: 1,
                    payouts_committed: 1,
                    pending: 2,
                    payouts_pending: 1,
                    ..MonitorReport::default()
                }),
            ),
            (Job::LateReadings, late, JobReport::LateReadings(LateReport { late: 2 })),
        ];
        for (job, text, typed) in expected {
            let beat = stored(job, text).unwrap();
            assert_eq!((beat.job(), beat.at.get()), (job, 1_795_860_060_000));
            assert_eq!(beat.report, typed, "{job}");
            let written = HeartbeatRecord::from(&beat);
            assert_eq!((written.job, written.at_ms), (job, 1_795_860_060_000));
            let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
            assert_eq!(json(&written.report), json(text), "{job} writes what it wrote before");
        }
    }

    /// Reports of older versions lacked fields added since (the sweep's stalled, expired
    /// and completions' dead letters, the settlement's market figures): they read as 0.
    #[test]
    fn a_heartbeat_of_an_older_version_reads_with_its_missing_fields_as_zero() {
        let old_sweep =
            r#"{"unread":1,"registrations":1,"messages":1,"marked_read":0,"lag_seconds":30,"dead_letters":2}"#;
        assert_eq!(
            report(Job::PollerSweep, old_sweep),
            JobReport::PollerSweep(SweepReport {
                unread: 1,
                registrations: 1,
                messages: 1,
                lag_seconds: 30,
                dead_letters: 2,
                ..SweepReport::default()
            })
        );
        let old_settlement = r#"{"settled":[{"period":1795860000000,"price":120,"revenue":40}]}"#;
        let JobReport::Settlement(settled) = report(Job::Settlement, old_settlement) else { panic!("settlement") };
        assert_eq!(settled.settled.len(), 1);
        let period = settled.settled[0];
        assert_eq!((period.period.get(), period.price.get(), period.revenue.get()), (1_795_860_000_000, 120, 40));
        assert_eq!((period.matched, period.fee), (Wh::ZERO, Iota::ZERO));
        assert_eq!(report(Job::Settlement, r#"{"settled":[]}"#), JobReport::Settlement(SettledPeriods::default()));
        // A field since dropped is ignored.
        let monitor = report(Job::BatchMonitor, r#"{"rounds":2,"dead_letters":1}"#);
        assert_eq!(monitor, JobReport::BatchMonitor(MonitorReport { rounds: 2, ..MonitorReport::default() }));
    }

    #[test]
    fn a_heartbeat_that_is_not_its_jobs_report_is_corrupt() {
        for (job, text) in [
            (Job::Poller, "not json"),
            (Job::Poller, r#"{"stored":-1}"#),
            (Job::Settlement, r#"{"settled":[{"price":1}]}"#),
            (Job::Settlement, r#"{"settled":[{"period":1,"price":1000000000001}]}"#),
        ] {
            assert!(matches!(stored(job, text), Err(StoreError::Corrupt(_))), "{job}: {text}");
        }
        let far = HeartbeatRecord { job: Job::Poller, at_ms: u64::MAX, report: "{}".to_owned() };
        assert!(matches!(far.into_domain(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_rejection_stored_before_its_reason_was_reads_the_reason_its_message_tells() {
        use grid_core::intake::RejectReason as R;
        let legacy = [
            ("the reading starts in the future (1795861000000ms)", R::InTheFuture),
            ("the period of this reading already holds the 1000 readings one registration may store", R::TooMany),
            ("batch pay-1 was claimed before", R::ClaimedBefore),
            ("a producer's output needs producerPrice and paymentIdOrAddress", R::NotAllowed),
            ("a consumer does not send producerOutput", R::NotAllowed),
            ("envelope signature does not verify", R::Unreadable),
        ];
        for (message, reason) in legacy {
            assert_eq!(reject_reason(None, message).unwrap(), reason, "{message}");
        }
        for reason in R::ALL {
            assert_eq!(reject_reason(Some(reason.as_str()), "any").unwrap(), reason, "a stored word wins");
        }
        assert!(matches!(reject_reason(Some("bored"), "x"), Err(StoreError::Corrupt(_))));
    }
}
