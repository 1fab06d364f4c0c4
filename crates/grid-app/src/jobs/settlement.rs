//! Settlement: every due period, oldest first, settled exactly once.
//!
//! For a period: close it (from then on no reading joins it), read its readings,
//! settle its local market (grid-core's pure formulas, DESIGN.md §6), add each
//! registration's share to its account (once per period; a producer's allocation
//! becomes what the grid owes it from that period, payable to the address it named
//! there), archive the full report, tell each billed consumer what it owes on its
//! return channel, and record the settlement, which moves the head on.
//! One run at a time holds a lease (a second one started meanwhile stands aside).
//! Cut off anywhere, a run resumes the closing period and repeats only what is
//! idempotent: accounts take a period once, the archive is overwritten with the same
//! report, and a repeated payment request restates the same cumulative amount owed.

use std::collections::HashMap;
use std::sync::Arc;

use grid_client::channels::{Attached, ChannelClient, ChannelError, ChannelWriter};
use grid_core::channel::{ChannelSecrets, Command, Envelope, EnvelopeError, MessageAddress, random_nonce};
use grid_core::market::{
    ConsumerOutcome, Period, PeriodReport, PeriodStart, PeriodTotals, ReadingKind, SettlementError, SettlementRecord,
    settle,
};
use grid_core::{EpochMs, Iota, PaymentAddress, Registration, RegistrationId, ReturnChannel};
use grid_store::{ConflictKind, JobReport, SettledPeriod, SettledPeriods, StoreError, Stores};

use super::lease::Lease;
use crate::config::MarketConfig;

/// How long a run holds settlement to itself: past the function's 60 s timeout. A
/// longer run (a long backlog in `serve`) may be joined by another; both stay correct.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(120);

/// Payment requests handled together: one transaction each on SQLite. Their addresses
/// are hashes, so each chunk's envelopes land all over the address index and dirty most
/// of its pages whatever the chunk's size: fewer, larger commits write each page fewer
/// times (100 000 consumers' requests: 3.4 s in chunks of 2 000, 2.4 s in chunks of
/// 10 000, 2026-12-05). ~10 MB of a function's memory.
const REQUEST_CHUNK: usize = 10_000;

/// Settling failed; the next run resumes the closing period.
#[derive(Debug, thiserror::Error)]
pub enum SettlerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settlement(#[from] SettlementError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("the settlement head {0} is not aligned to the period length; was SETTLEMENT_PERIOD_SECS changed?")]
    Misaligned(PeriodStart),
}

/// The periods one run settled.
pub type SettlementReport = Vec<SettlementRecord>;

/// Settlement over its ports.
#[derive(Clone)]
pub struct Settler {
    pub stores: Stores,
    /// How settlement writes to consumers' return channels.
    pub channel_client: Arc<dyn ChannelClient>,
    pub market: MarketConfig,
}

impl Settler {
    /// Settles every period that is due at `now`, oldest first.
    /// Another run in progress holds the lease: this one settles nothing.
    pub async fn run(&self, now: EpochMs) -> Result<SettlementReport, SettlerError> {
        let Some(lease) = Lease::take(&self.stores.leases, "settlement", now, LEASE_TTL).await? else {
            return Ok(Vec::new());
        };
        let result = self.settle_due(now).await;
        lease.release().await?;
        self.measure_lag(now).await;
        if let Ok(settled) = &result {
            let settled = SettledPeriods { settled: settled.iter().map(SettledPeriod::from).collect() };
            super::heartbeat(self.stores.heartbeats.as_ref(), JobReport::Settlement(settled)).await;
        }
        result
    }

    /// Sets the settlement lag: how far the newest settled period's end is behind `now`
    /// (none settled yet: no figure). A failure to read it is logged, never fatal.
    async fn measure_lag(&self, now: EpochMs) {
        match self.stores.settlements.head().await {
            Ok(head) => {
                if let Some(lag) = head.lag_secs(now, self.market.period) {
                    metrics::gauge!(crate::metrics::SETTLEMENT_LAG).set(lag as f64);
                }
            }
            Err(e) => tracing::warn!(error = %crate::telemetry::cause_chain(&e), "cannot read the settlement lag"),
        }
    }

    async fn settle_due(&self, now: EpochMs) -> Result<SettlementReport, SettlerError> {
        let mut settled = Vec::new();
        loop {
            let head = self.stores.settlements.head().await?;
            let next = match (head.closing, head.latest) {
                (Some(closing), _) => closing,
                (None, Some(latest)) => PeriodStart::parse(latest.get() + self.market.period.ms())
                    .map_err(|_| SettlerError::Misaligned(latest))?,
                // Nothing was ever read: there is nothing to settle.
                (None, None) => return Ok(settled),
            };
            let period = Period::starting_at(next, self.market.period).ok_or(SettlerError::Misaligned(next))?;
            if !period.is_due(now, self.market.grace_secs) {
                return Ok(settled);
            }
            match self.settle_period(period, head.latest, now).await {
                Ok(record) => {
                    crate::metrics::settled(&record);
                    settled.push(record);
                }
                // Another run closed or finished it first; look at the head again.
                Err(SettlerError::Store(StoreError::Conflict(reason))) if reason.kind == ConflictKind::Moved => {
                    tracing::info!(%period, %reason, "another run is settling; following it");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn settle_period(
        &self,
        period: Period,
        previous: Option<PeriodStart>,
        now: EpochMs,
    ) -> Result<SettlementRecord, SettlerError> {
        self.stores.settlements.close(period.start(), previous).await?;
        let totals = self.totals(period).await?;
        // The last traded price: every period records one, traded or carried on.
        let last_price = match previous {
            Some(previous) => self.stores.settlements.get(previous).await?.map(|r| r.price),
            None => None,
        };
        let settlement = settle(&totals, last_price, &self.market.policy_at(period.start()))?;
        let payment_address = self.market.wallet.payment_address(period.start());

        let entries = settlement.account_entries(period.start())?;
        self.stores.accounts.apply(period.start(), &entries, settlement.grid_entry()).await?;
        let record = SettlementRecord::of(period.start(), &settlement, payment_address.clone(), now);
        let report = PeriodReport::new(period, settlement, payment_address.clone());
        // Compact: a 100 000-consumer report is megabytes, and only programs read it raw.
        let json = serde_json::to_string(&report).expect("a report serialises");
        self.stores.archive.put(period.start(), &json).await?;
        self.request_payments(&report.settlement.consumers, &payment_address).await?;

        self.stores.settlements.finish(&record).await?;
        tracing::info!(
            %period, price = record.price.get(), matched = record.matched.get(), imported = record.imported.get(),
            exported = record.exported.get(), revenue = record.revenue.get(), fee = record.fee.get(),
            producers = record.producers, consumers = record.consumers, "settled"
        );
        Ok(record)
    }

    /// The period's readings summed per registration (the store sums them, by kind and
    /// price: an output's ask, a usage's bid), with each seller's latest payment address.
    async fn totals(&self, period: Period) -> Result<PeriodTotals, SettlerError> {
        let mut totals = PeriodTotals::default();
        for sum in self.stores.readings.sums(period.start()).await? {
            match (sum.kind, sum.price) {
                (ReadingKind::Output, Some(ask)) => totals.add_output(sum.registration.clone(), sum.energy, ask)?,
                // The poller stores no output without its ask.
                (ReadingKind::Output, None) => {
                    return Err(
                        StoreError::Corrupt(format!("an output of {} without a price", sum.registration)).into()
                    );
                }
                (ReadingKind::Usage, bid) => totals.add_bid(sum.registration.clone(), sum.energy, bid)?,
            }
            if let Some(party) = sum.party {
                totals.set_kind(sum.registration.clone(), party);
            }
            if let Some(address) = sum.payment_address {
                totals.name_address(sum.registration, sum.latest_start, address);
            }
        }
        Ok(totals)
    }

    /// Tells each billed consumer (charged more than 0) what it owes, on its return
    /// channel, a chunk at a time: registrations and accounts are read together, the
    /// requests sealed on every core, attached together, and the channels' next indexes
    /// recorded together. The next chunk is sealed while this one is written (chunks
    /// share no consumer).
    async fn request_payments(
        &self,
        consumers: &[ConsumerOutcome],
        payment_address: &PaymentAddress,
    ) -> Result<(), SettlerError> {
        let billed: Vec<&ConsumerOutcome> = consumers.iter().filter(|c| c.charge > Iota::ZERO).collect();
        let mut chunks = billed.chunks(REQUEST_CHUNK);
        let mut sealing = match chunks.next() {
            Some(first) => tokio::spawn(seal_all(self.requests(first, payment_address).await?)),
            None => return Ok(()),
        };
        loop {
            let sealed = sealing.await.expect("the sealing task does not panic")?;
            let next = match chunks.next() {
                Some(chunk) => Some(tokio::spawn(seal_all(self.requests(chunk, payment_address).await?))),
                None => None,
            };
            self.publish_sealed(sealed).await?;
            match next {
                Some(next) => sealing = next,
                None => return Ok(()),
            }
        }
    }

    /// The payment requests of `chunk`'s consumers that still have an open return
    /// channel: what each owes in all, and the local energy this period bills.
    async fn requests(
        &self,
        chunk: &[&ConsumerOutcome],
        payment_address: &PaymentAddress,
    ) -> Result<Vec<Request>, SettlerError> {
        let ids: Vec<RegistrationId> = chunk.iter().map(|c| c.id.clone()).collect();
        let registrations: HashMap<RegistrationId, Registration> = self
            .stores
            .registrations
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|v| (v.value.id.clone(), v.value))
            .collect();
        let owed: HashMap<RegistrationId, Iota> =
            self.stores.accounts.get_many(&ids).await?.into_iter().map(|(id, a)| (id, a.owed())).collect();
        let mut requests = Vec::with_capacity(chunk.len());
        for consumer in chunk {
            let Some(registration) = registrations.get(&consumer.id) else { continue };
            // A consumer that left has said goodbye; its debt stays on its account.
            let Some(channel) = registration.return_channel.as_ref().filter(|_| registration.is_active()) else {
                continue;
            };
            let command = Command::PaymentRequest {
                owed: owed.get(&consumer.id).copied().unwrap_or(Iota::ZERO),
                usage: consumer.local,
                payment_address: payment_address.clone(),
            };
            requests.push(Request { consumer: consumer.id.clone(), channel: channel.clone(), command });
        }
        Ok(requests)
    }

    /// Attaches sealed requests together and records where each channel goes on.
    async fn publish_sealed(&self, sealed: Vec<(Request, Sealed)>) -> Result<(), SettlerError> {
        let messages: Vec<(MessageAddress, Envelope)> =
            sealed.iter().map(|(_, s)| (s.address.clone(), s.envelope.clone())).collect();
        let attached = self.channel_client.attach_many(&messages).await.map_err(ChannelError::from)?;
        let mut next = Vec::with_capacity(sealed.len());
        for ((request, Sealed { secrets, .. }), attached) in sealed.into_iter().zip(attached) {
            let index = request.channel.next_index;
            match attached {
                Attached::Stored => next.push((request.consumer, index + 1)),
                Attached::Taken => {
                    // Someone wrote there first (a resumed run, a stale index): walk on.
                    let mut writer = ChannelWriter::new(secrets, index + 1, self.channel_client.clone());
                    writer.publish(&request.command).await?;
                    next.push((request.consumer, writer.next_index()));
                }
            }
        }
        Ok(self.stores.registrations.advance_return_channels(&next).await?)
    }
}

/// A payment request about to be sealed, at its channel's next index.
struct Request {
    consumer: RegistrationId,
    channel: ReturnChannel,
    command: Command,
}

/// A request sealed: the channel's keys, where the envelope goes, and the envelope.
struct Sealed {
    secrets: ChannelSecrets,
    address: MessageAddress,
    envelope: Envelope,
}

/// Seals every request at its channel's next index, spread over the cores: deriving a
/// channel's keys and signing are the costly parts.
async fn seal_all(requests: Vec<Request>) -> Result<Vec<(Request, Sealed)>, SettlerError> {
    tokio::task::spawn_blocking(move || {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let part = requests.len().div_ceil(cores).max(1);
        let seal = |request: &Request| -> Result<Sealed, EnvelopeError> {
            let secrets = request.channel.secrets();
            let index = request.channel.next_index;
            let envelope = secrets.seal(index, request.command.to_json().as_bytes(), random_nonce())?;
            Ok(Sealed { address: secrets.access().address(index), secrets, envelope })
        };
        let sealed: Vec<Result<Vec<Sealed>, EnvelopeError>> = std::thread::scope(|scope| {
            let parts: Vec<_> =
                requests.chunks(part).map(|chunk| scope.spawn(move || chunk.iter().map(seal).collect())).collect();
            parts.into_iter().map(|p| p.join().expect("sealing does not panic")).collect()
        });
        let sealed = sealed.into_iter().collect::<Result<Vec<_>, _>>().map_err(ChannelError::from)?;
        Ok(requests.into_iter().zip(sealed.into_iter().flatten()).collect())
    })
    .await
    .expect("the sealing task does not panic")
}
