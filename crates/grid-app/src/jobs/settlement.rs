//! Settlement: every due period, oldest first, settled exactly once.
//!
//! For a period: close it (from then on no reading joins it), read its readings,
//! settle them (grid-core's pure formulas), add each registration's share to its
//! account (once per period), archive the full report, tell each billed consumer what
//! it owes on its return channel, and record the settlement, which moves the head on.
//! One run at a time holds a lease (a second one started meanwhile stands aside).
//! Cut off anywhere, a run resumes the closing period and repeats only what is
//! idempotent: accounts take a period once, the archive is overwritten with the same
//! report, and a repeated payment request restates the same cumulative amount owed.

use std::collections::HashMap;
use std::sync::Arc;

use grid_core::channel::{ChannelSecrets, Command, Envelope, EnvelopeError, MessageAddress, random_nonce};
use grid_core::market::{Charge, Period, PeriodTotals, PriceSource, Settlement, SettlementError, settle};
use grid_core::{EpochMs, Iota, PaymentAddress, Registration, RegistrationId, ReturnChannel};
use grid_store::{
    AccountEntry, AccountStore, HeartbeatLog, LeaseStore, ReadingStore, RegistrationStore, ReportArchive,
    SettlementRecord, SettlementStore, StoreError,
};
use serde_json::json;

use super::lease::Lease;
use crate::channels::{Attached, ChannelClient, ChannelError, ChannelWriter};
use crate::config::MarketConfig;

/// Each producer's payment address from its latest reading: `(start, address)`.
type Addresses = HashMap<RegistrationId, (u64, PaymentAddress)>;

/// How long a run holds settlement to itself: past the function's 60 s timeout. A
/// longer run (a long backlog in `serve`) may be joined by another; both stay correct.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(120);

/// Payment requests handled together: one transaction each on SQLite, where fewer,
/// larger commits took a 100 000-consumer period's requests from ~3.5 s to ~2.9 s
/// (500 a chunk before). A few MB of a function's memory.
const REQUEST_CHUNK: usize = 2_000;

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
    Misaligned(u64),
}

/// The periods one run settled.
pub type SettlementReport = Vec<SettlementRecord>;

/// Settlement over its ports.
#[derive(Clone)]
pub struct Settler {
    pub registrations: Arc<dyn RegistrationStore>,
    pub readings: Arc<dyn ReadingStore>,
    pub settlements: Arc<dyn SettlementStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub archive: Arc<dyn ReportArchive>,
    pub channels: Arc<dyn ChannelClient>,
    pub leases: Arc<dyn LeaseStore>,
    pub heartbeats: Arc<dyn HeartbeatLog>,
    pub market: MarketConfig,
}

impl Settler {
    /// Settles every period that is due at `now`, oldest first.
    /// Another run in progress holds the lease: this one settles nothing.
    pub async fn run(&self, now: EpochMs) -> Result<SettlementReport, SettlerError> {
        let Some(lease) = Lease::take(&self.leases, "settlement", now, LEASE_TTL).await? else {
            return Ok(Vec::new());
        };
        let result = self.settle_due(now).await;
        lease.release().await?;
        if let Ok(settled) = &result {
            let periods: Vec<serde_json::Value> = settled
                .iter()
                .map(|r| json!({"period": r.period, "price": r.price.get(), "revenue": r.revenue.get()}))
                .collect();
            super::heartbeat(self.heartbeats.as_ref(), "settlement", &json!({ "settled": periods })).await;
        }
        result
    }

    async fn settle_due(&self, now: EpochMs) -> Result<SettlementReport, SettlerError> {
        let mut settled = Vec::new();
        loop {
            let head = self.settlements.head().await?;
            let next = match (head.closing, head.latest) {
                (Some(closing), _) => closing,
                (None, Some(latest)) => latest + self.market.period.secs() * 1000,
                // Nothing was ever read: there is nothing to settle.
                (None, None) => return Ok(settled),
            };
            let period = Period::starting_at(next, self.market.period).ok_or(SettlerError::Misaligned(next))?;
            if !period.is_due(now, self.market.grace_secs) {
                return Ok(settled);
            }
            match self.settle_period(period, head.latest, now).await {
                Ok(record) => settled.push(record),
                // Another run closed or finished it first; look at the head again.
                Err(SettlerError::Store(StoreError::Conflict(reason))) => {
                    tracing::info!(%period, %reason, "another run is settling; following it");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn settle_period(
        &self,
        period: Period,
        previous: Option<u64>,
        now: EpochMs,
    ) -> Result<SettlementRecord, SettlerError> {
        self.settlements.close(period.start(), previous).await?;
        let (totals, addresses) = self.totals(period).await?;
        let previous_price = match previous {
            Some(previous) => self.settlements.get(previous).await?.map(|r| r.price),
            None => None,
        };
        let settlement = settle(&totals, previous_price, &self.market.policy)?;
        let payment_address = self.market.payment_address(period.start());

        let entries: Vec<AccountEntry> = settlement
            .charges
            .iter()
            .map(|c| AccountEntry {
                registration: c.consumer.clone(),
                billed: c.amount,
                entitled: Iota::ZERO,
                energy: c.energy,
                payment_address: None,
            })
            .chain(settlement.allocations.iter().map(|a| AccountEntry {
                registration: a.producer.clone(),
                billed: Iota::ZERO,
                entitled: a.amount,
                energy: a.energy,
                payment_address: addresses.get(&a.producer).map(|(_, address)| address.clone()),
            }))
            .collect();
        self.accounts.apply(period.start(), &entries, settlement.fee).await?;
        self.archive.put(period.start(), &report(period, &settlement, &payment_address)).await?;
        self.request_payments(&settlement.charges, &payment_address).await?;

        let record = SettlementRecord {
            period: period.start(),
            price: settlement.price,
            price_source: source_name(settlement.price_source).to_owned(),
            produced: settlement.produced,
            used: settlement.used,
            revenue: settlement.revenue,
            fee: settlement.fee,
            distributable: settlement.distributable,
            unallocated: settlement.unallocated,
            producers: settlement.allocations.len() as u64,
            consumers: settlement.charges.len() as u64,
            payment_address,
            settled: now,
        };
        self.settlements.finish(&record).await?;
        tracing::info!(
            %period, price = record.price.get(), revenue = record.revenue.get(), fee = record.fee.get(),
            producers = record.producers, consumers = record.consumers, "settled"
        );
        Ok(record)
    }

    /// The period's readings summed per registration (the store sums them), and each
    /// producer's latest payment address (from its latest reading).
    async fn totals(&self, period: Period) -> Result<(PeriodTotals, Addresses), SettlerError> {
        let mut totals = PeriodTotals::default();
        let mut addresses = Addresses::new();
        for sum in self.readings.sums(period.start()).await? {
            match sum.price {
                Some(price) => totals.add_output(sum.registration.clone(), sum.energy, price)?,
                None => totals.add_usage(sum.registration.clone(), sum.energy)?,
            }
            if let Some(address) = sum.payment_address {
                let latest = addresses.entry(sum.registration).or_insert((sum.latest_start, address.clone()));
                if sum.latest_start >= latest.0 {
                    *latest = (sum.latest_start, address);
                }
            }
        }
        Ok((totals, addresses))
    }

    /// Tells each billed consumer what it owes, on its return channel, a chunk at a
    /// time: registrations and accounts are read together, the requests sealed on every
    /// core, attached together, and the channels' next indexes recorded together. The
    /// next chunk is sealed while this one is written (chunks share no consumer).
    async fn request_payments(&self, charges: &[Charge], payment_address: &PaymentAddress) -> Result<(), SettlerError> {
        let mut chunks = charges.chunks(REQUEST_CHUNK);
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

    /// The payment requests of `chunk`'s consumers that still have an open return channel.
    async fn requests(&self, chunk: &[Charge], payment_address: &PaymentAddress) -> Result<Vec<Request>, SettlerError> {
        let ids: Vec<RegistrationId> = chunk.iter().map(|c| c.consumer.clone()).collect();
        let registrations: HashMap<RegistrationId, Registration> =
            self.registrations.get_many(&ids).await?.into_iter().map(|v| (v.value.id.clone(), v.value)).collect();
        let owed: HashMap<RegistrationId, Iota> =
            self.accounts.get_many(&ids).await?.into_iter().map(|(id, a)| (id, a.owed())).collect();
        let mut requests = Vec::with_capacity(chunk.len());
        for charge in chunk {
            let Some(registration) = registrations.get(&charge.consumer) else { continue };
            // A consumer that left has said goodbye; its debt stays on its account.
            let Some(channel) = registration.return_channel.as_ref().filter(|_| registration.is_active()) else {
                continue;
            };
            let command = Command::PaymentRequest {
                owed: owed.get(&charge.consumer).copied().unwrap_or(Iota::ZERO),
                usage: charge.energy,
                payment_address: payment_address.clone(),
            };
            requests.push(Request { consumer: charge.consumer.clone(), channel: channel.clone(), command });
        }
        Ok(requests)
    }

    /// Attaches sealed requests together and records where each channel goes on.
    async fn publish_sealed(&self, sealed: Vec<(Request, Sealed)>) -> Result<(), SettlerError> {
        let messages: Vec<(MessageAddress, Envelope)> =
            sealed.iter().map(|(_, s)| (s.address.clone(), s.envelope.clone())).collect();
        let attached = self.channels.attach_many(&messages).await.map_err(ChannelError::from)?;
        let mut next = Vec::with_capacity(sealed.len());
        for ((request, Sealed { secrets, .. }), attached) in sealed.into_iter().zip(attached) {
            let index = request.channel.next_index;
            match attached {
                Attached::Stored => next.push((request.consumer, index + 1)),
                Attached::Taken => {
                    // Someone wrote there first (a resumed run, a stale index): walk on.
                    let mut writer = ChannelWriter::new(secrets, index + 1, self.channels.clone());
                    writer.publish(&request.command).await?;
                    next.push((request.consumer, writer.next_index()));
                }
            }
        }
        Ok(self.registrations.advance_return_channels(&next).await?)
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

fn source_name(source: PriceSource) -> &'static str {
    match source {
        PriceSource::Consensus => "consensus",
        PriceSource::Previous => "previous",
        PriceSource::Default => "default",
    }
}

/// The full, human-checkable report of a period.
fn report(period: Period, s: &Settlement, payment_address: &grid_core::PaymentAddress) -> String {
    let report = json!({
        "period": {"start": period.start(), "end": period.end()},
        "price": s.price.get(),
        "priceSource": source_name(s.price_source),
        "producedKwh": s.produced.kwh(),
        "usedKwh": s.used.kwh(),
        "revenue": s.revenue.get(),
        "fee": s.fee.get(),
        "distributable": s.distributable.get(),
        "unallocated": s.unallocated.get(),
        "paymentAddress": payment_address,
        "charges": s.charges.iter().map(|c| json!({"consumer": c.consumer, "wh": c.energy.get(), "amount": c.amount.get()})).collect::<Vec<_>>(),
        "allocations": s.allocations.iter().map(|a| json!({"producer": a.producer, "wh": a.energy.get(), "amount": a.amount.get()})).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&report).expect("a report serialises")
}
