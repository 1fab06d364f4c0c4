//! Settling one period's local market (DESIGN.md §6): offers under the cap, matched
//! energy, the price, each party's share, charges, fee and allocations.
//!
//! Only energy both produced and used locally is traded. Supply the market does not
//! use is exported (the producer's utility takes it) and demand it does not cover is
//! imported (the consumer's utility supplies it); both are reported, neither is paid
//! for here. Sums of energy are `u64` Wh (checked), worths and products `u128`.

use std::collections::BTreeMap;

use ethnum::U256;

use super::{ConsensusStrategy, PeriodStart, TariffPrices, apportion};
use crate::books::{AccountEntry, GridEntry, StatementLine};
use crate::{EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, Wh};

/// A settlement cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("the period's {what} exceeds what the grid can count; check its readings for absurd values")]
    Overflow { what: &'static str },
}

fn overflow(what: &'static str) -> SettlementError {
    SettlementError::Overflow { what }
}

/// The grid's fee in basis points (`GRID_FEE_BPS`): 0 to 10,000 (100%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeBps(u16);

/// The fee is more than 100%.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the grid fee must be 0 to 10000 basis points, got {0}")]
pub struct FeeBpsError(pub u64);

impl FeeBps {
    pub const DEFAULT: FeeBps = FeeBps(2000);

    pub fn new(bps: u64) -> Result<Self, FeeBpsError> {
        u16::try_from(bps).ok().filter(|b| *b <= 10_000).map(Self).ok_or(FeeBpsError(bps))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// The rules every period is settled by (`CONSENSUS_STRATEGY`, `GRID_FEE_BPS`,
/// `DEFAULT_PRICE`); with the tariff in force at a period's start they make its
/// [`SettlementPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementRules {
    pub strategy: ConsensusStrategy,
    pub fee: FeeBps,
    pub default_price: Price,
}

impl SettlementRules {
    /// The policy of a period under these rules and `prices`.
    pub fn with(self, prices: TariffPrices) -> SettlementPolicy {
        SettlementPolicy {
            strategy: self.strategy,
            fee: self.fee,
            cap: prices.cap,
            feed_in: prices.feed_in,
            default_price: self.default_price,
        }
    }
}

/// How a period is settled: the rules, and the tariff in force at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementPolicy {
    pub strategy: ConsensusStrategy,
    pub fee: FeeBps,
    /// `PRICE_CAP_t`: no offer above it is admitted and no bid is above it, so no buyer
    /// pays more per kWh than its utility would charge.
    pub cap: Price,
    /// `FEED_IN_t`: what a seller's utility pays for exported energy (the reference for
    /// what selling locally gained; no market rule).
    pub feed_in: Price,
    /// The reference price before anything was ever traded (`DEFAULT_PRICE`).
    pub default_price: Price,
}

/// One party's readings in a period, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Party {
    kind: Option<ItemType>,
    /// It sent output, or usage, in the period (a reading of 0 Wh too: it has a row).
    sold: bool,
    bought: bool,
    /// Output Wh (`G`) and `Σ Wh · producerPrice` over it (milli-IOTA).
    output: u64,
    worth: u128,
    /// The payment address of its latest output reading, and that reading's start time.
    address: Option<(EpochMs, PaymentAddress)>,
    /// Usage Wh (`U`); of it, `Σ Wh · consumerPrice` over readings with a bid, and the
    /// Wh of readings without one (they count at the cap).
    usage: u64,
    bid_worth: u128,
    unpriced: u64,
}

/// Everything read in one period, summed per registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodTotals {
    parties: BTreeMap<RegistrationId, Party>,
}

impl PeriodTotals {
    /// Adds an output reading: `energy` offered at `price`.
    pub fn add_output(&mut self, party: RegistrationId, energy: Wh, price: Price) -> Result<(), SettlementError> {
        let entry = self.parties.entry(party).or_default();
        entry.sold = true;
        entry.output = entry.output.checked_add(energy.get()).ok_or(overflow("output"))?;
        let worth = u128::from(energy.get()) * u128::from(price.get());
        entry.worth = entry.worth.checked_add(worth).ok_or(overflow("output"))?;
        Ok(())
    }

    /// Notes where a party asked to be paid in an output reading starting at `start`:
    /// the period's allocation goes to the address of its latest reading (ties: the
    /// larger address, so the order readings are read in never matters).
    pub fn name_address(&mut self, party: RegistrationId, start: EpochMs, address: PaymentAddress) {
        let entry = self.parties.entry(party).or_default();
        entry.sold = true;
        let named = (start, address);
        if entry.address.as_ref().is_none_or(|current| &named > current) {
            entry.address = Some(named);
        }
    }

    /// Adds a usage reading without a bid: it counts at the cap.
    pub fn add_usage(&mut self, party: RegistrationId, energy: Wh) -> Result<(), SettlementError> {
        self.add_bid(party, energy, None)
    }

    /// Adds a usage reading with its `consumerPrice`, if it had one.
    pub fn add_bid(&mut self, party: RegistrationId, energy: Wh, bid: Option<Price>) -> Result<(), SettlementError> {
        let entry = self.parties.entry(party).or_default();
        entry.bought = true;
        entry.usage = entry.usage.checked_add(energy.get()).ok_or(overflow("usage"))?;
        match bid {
            Some(bid) => {
                let worth = u128::from(energy.get()) * u128::from(bid.get());
                entry.bid_worth = entry.bid_worth.checked_add(worth).ok_or(overflow("usage"))?;
            }
            // Within `usage`, which did not overflow.
            None => entry.unpriced += energy.get(),
        }
        Ok(())
    }

    /// Says what kind of registration `party` is, for the report's rows.
    pub fn set_kind(&mut self, party: RegistrationId, kind: ItemType) {
        self.parties.entry(party).or_default().kind = Some(kind);
    }

    /// Nothing was read in the period.
    pub fn is_empty(&self) -> bool {
        !self.parties.values().any(|p| p.sold || p.bought)
    }
}

/// Where the period's price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceSource {
    /// Energy was traded at it this period (`consensus` in periods settled as a pool).
    #[serde(alias = "consensus")]
    Traded,
    /// Nothing traded: the last traded price, for reference only.
    Previous,
    /// Nothing ever traded: `DEFAULT_PRICE`, for reference only.
    Default,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traded => "traded",
            Self::Previous => "previous",
            Self::Default => "default",
        }
    }

    /// The source [`as_str`](Self::as_str) names; `consensus` is how periods settled as
    /// a pool named a traded price.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "consensus" => Some(Self::Traded),
            _ => [Self::Traded, Self::Previous, Self::Default].into_iter().find(|s| s.as_str() == name),
        }
    }
}

/// What one seller (every party with output: producers, prosumers) did in a period.
/// Fields after `payment_address` were added on 2026-12-05; periods settled before
/// read them as 0 (and `kind` as absent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerOutcome {
    pub id: RegistrationId,
    /// All it produced (`G`).
    pub produced: Wh,
    /// Its volume-weighted ask `floor(V / G)`; none without energy.
    pub ask: Option<Price>,
    /// What the market admitted: all it offered at or below the cap, else nothing.
    pub admitted: Wh,
    /// What the market used of it.
    pub matched: Wh,
    /// `offered − matched`: what its utility takes.
    pub exported: Wh,
    /// Its share of what buyers paid, after the grid's fee.
    pub allocation: Iota,
    /// Where it asked to be paid in this period (its latest reading's address).
    pub payment_address: Option<PaymentAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ItemType>,
    /// What it used of its own output (`min(G, U)`, a prosumer's; 0 for a producer).
    #[serde(default)]
    pub self_consumed: Wh,
    /// `G − selfConsumed`: what it put on the market.
    #[serde(default)]
    pub offered: Wh,
    /// `allocation − (matched · feedIn + 500) / 1000`: what selling locally earned
    /// beyond what its utility would have paid for the same energy (IOTA, signed).
    #[serde(default)]
    pub gain: i64,
}

/// What one buyer (every party with usage: consumers, prosumers) did in a period.
/// Fields after `charge` were added on 2026-12-05; periods settled before read them as
/// 0 (and `kind`, `bid` as absent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerOutcome {
    pub id: RegistrationId,
    /// All it used (`U`).
    pub used: Wh,
    /// Its share of the matched energy: what it is billed for.
    pub local: Wh,
    /// `demand − local`: what its utility supplies.
    pub imported: Wh,
    /// `(local · price + 500) / 1000`.
    pub charge: Iota,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ItemType>,
    /// What it used of its own output.
    #[serde(default)]
    pub self_consumed: Wh,
    /// `U − selfConsumed`: what it needed from the market or its utility.
    #[serde(default)]
    pub demand: Wh,
    /// Its bid: `min(cap, floor(Σ Wh · consumerPrice / U))`, a reading without
    /// `consumerPrice` counting at the cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<Price>,
    /// `(local · cap + 500) / 1000 − charge`: what it saved against its utility.
    #[serde(default)]
    pub savings: Iota,
}

/// A settled period: the figures of DESIGN.md §6's report. Always
/// `Σ allocation + fee + unallocated = revenue` and `Σ local = Σ matched = matched`.
/// Fields after `consumers` were added on 2026-12-05; periods settled before read them
/// as 0.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub strategy: ConsensusStrategy,
    /// IOTA per kWh: what matched energy traded at, or the reference price.
    pub price: Price,
    pub price_source: PriceSource,
    /// Everyone's output, prosumers' whole.
    pub produced: Wh,
    /// Offered at or below the cap (`S`).
    pub admitted: Wh,
    /// Everyone's usage, prosumers' whole.
    pub used: Wh,
    /// `M`: what the local market traded.
    pub matched: Wh,
    /// `demand − M`.
    pub imported: Wh,
    /// `offered − M`.
    pub exported: Wh,
    pub revenue: Iota,
    pub fee: Iota,
    /// What no seller could take: 0 whenever there is revenue.
    pub unallocated: Iota,
    pub producers: Vec<ProducerOutcome>,
    pub consumers: Vec<ConsumerOutcome>,
    /// `PRICE_CAP_t` and `FEED_IN_t`, the tariff in force at the period's start.
    #[serde(default)]
    pub cap: Price,
    #[serde(default)]
    pub feed_in: Price,
    /// `Σ min(G, U)`: what prosumers used of their own output, never traded.
    #[serde(default)]
    pub self_consumed: Wh,
    /// What sellers put on the market, and what buyers needed from it.
    #[serde(default)]
    pub offered: Wh,
    #[serde(default)]
    pub demand: Wh,
    /// `floor(10000 · (selfConsumed + matched) / used)`: the community's own share of
    /// what it used; 0 when nothing was used.
    #[serde(default)]
    pub self_sufficiency_bps: u64,
    /// `floor(10000 · (selfConsumed + matched) / produced)`: the share of its output the
    /// community used itself; 0 when nothing was produced.
    #[serde(default)]
    pub self_consumption_bps: u64,
    /// Σ buyers' savings and Σ sellers' gains (signed), in IOTA.
    #[serde(default)]
    pub savings: Iota,
    #[serde(default)]
    pub gains: i64,
}

impl Settlement {
    /// `revenue − fee`: what sellers share.
    pub fn distributable(&self) -> Iota {
        Iota::new(self.revenue.get() - self.fee.get())
    }

    /// What the period adds to the grid's own totals.
    pub fn grid_entry(&self) -> GridEntry {
        GridEntry { fee: self.fee, savings: self.savings, gains: self.gains }
    }

    /// What the period puts on each registration's account, one entry each, with the
    /// line of its statement: a buyer is billed its charge, a seller entitled to its
    /// allocation, a prosumer both on one entry (its energy all it metered, output and
    /// usage; its matched what it sold and bought locally). In id order.
    pub fn account_entries(&self, period: PeriodStart) -> Result<Vec<AccountEntry>, SettlementError> {
        let mut entries: BTreeMap<&RegistrationId, AccountEntry> = BTreeMap::new();
        let blank = |id: &RegistrationId| AccountEntry {
            registration: id.clone(),
            payment_address: None,
            energy: Wh::ZERO,
            matched: Wh::ZERO,
            line: StatementLine::blank(period, self.price, self.cap, self.feed_in),
        };
        let add = |a: Wh, b: Wh| a.checked_add(b).ok_or(overflow("energy of an account"));
        for c in &self.consumers {
            let entry = entries.entry(&c.id).or_insert_with(|| blank(&c.id));
            entry.energy = add(entry.energy, c.used)?;
            entry.matched = add(entry.matched, c.local)?;
            let line = &mut entry.line;
            line.kind = line.kind.or(c.kind);
            line.self_consumed = c.self_consumed;
            (line.used, line.local, line.imported, line.charge) = (c.used, c.local, c.imported, c.charge);
            (line.bid, line.savings) = (c.bid, c.savings);
        }
        for p in &self.producers {
            let entry = entries.entry(&p.id).or_insert_with(|| blank(&p.id));
            entry.energy = add(entry.energy, p.produced)?;
            entry.matched = add(entry.matched, p.matched)?;
            entry.payment_address = p.payment_address.clone();
            let line = &mut entry.line;
            line.kind = line.kind.or(p.kind);
            line.self_consumed = p.self_consumed;
            (line.produced, line.offered, line.matched, line.exported) = (p.produced, p.offered, p.matched, p.exported);
            (line.allocation, line.ask, line.gain) = (p.allocation, p.ask, p.gain);
        }
        Ok(entries.into_values().collect())
    }
}

/// An admitted offer: a seller's net energy and its ask.
struct Offer<'a> {
    index: usize,
    seller: &'a RegistrationId,
    energy: u64,
    worth: u128,
    ask: Price,
}

/// A buyer's net demand and bid.
struct Bid<'a> {
    index: usize,
    buyer: &'a RegistrationId,
    energy: u64,
    bid: Price,
}

/// Settles a period after DESIGN.md §6. `last_price` is the previous period's price
/// (the last traded one), the reference when nothing trades.
pub fn settle(
    totals: &PeriodTotals,
    last_price: Option<Price>,
    policy: &SettlementPolicy,
) -> Result<Settlement, SettlementError> {
    let cap = policy.cap;
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    let mut offers = Vec::new();
    let mut bids = Vec::new();
    for (id, party) in &totals.parties {
        let self_consumed = party.output.min(party.usage);
        if party.sold {
            let offered = party.output - self_consumed;
            // Every reading's price is at most Price::MAX, so is their weighted mean.
            let ask = match party.worth.checked_div(u128::from(party.output)) {
                Some(ask) => Some(price_of(ask, "ask")?),
                None => None,
            };
            let admitted = match ask {
                Some(ask) if offered > 0 && ask <= cap => offered,
                _ => 0,
            };
            if let Some(ask) = ask.filter(|_| admitted > 0) {
                let worth = worth_of_offered(party.worth, offered, party.output);
                offers.push(Offer { index: producers.len(), seller: id, energy: offered, worth, ask });
            }
            producers.push(ProducerOutcome {
                id: id.clone(),
                produced: Wh::new(party.output),
                ask,
                admitted: Wh::new(admitted),
                matched: Wh::ZERO,
                exported: Wh::new(offered),
                allocation: Iota::ZERO,
                payment_address: party.address.as_ref().map(|(_, address)| address.clone()),
                kind: party.kind,
                self_consumed: Wh::new(self_consumed),
                offered: Wh::new(offered),
                gain: 0,
            });
        }
        if party.bought {
            let demand = party.usage - self_consumed;
            let worth = party.bid_worth + u128::from(party.unpriced) * u128::from(cap.get());
            let bid = match worth.checked_div(u128::from(party.usage)) {
                Some(bid) => Some(price_of(bid, "bid")?.min(cap)),
                None => None,
            };
            if let Some(bid) = bid.filter(|_| demand > 0) {
                bids.push(Bid { index: consumers.len(), buyer: id, energy: demand, bid });
            }
            consumers.push(ConsumerOutcome {
                id: id.clone(),
                used: Wh::new(party.usage),
                local: Wh::ZERO,
                imported: Wh::new(demand),
                charge: Iota::ZERO,
                kind: party.kind,
                self_consumed: Wh::new(self_consumed),
                demand: Wh::new(demand),
                bid,
                savings: Iota::ZERO,
            });
        }
    }
    let produced = sum(producers.iter().map(|p| p.produced.get()), "output")?;
    let used = sum(consumers.iter().map(|c| c.used.get()), "usage")?;
    let self_consumed = sum(producers.iter().map(|p| p.self_consumed.get()), "output")?;
    let offered = sum(producers.iter().map(|p| p.offered.get()), "output")?;
    let admitted = sum(offers.iter().map(|o| o.energy), "output")?;
    let demand = sum(bids.iter().map(|b| b.energy), "usage")?;

    let traded = match policy.strategy {
        ConsensusStrategy::Clearing => clear(&offers, &bids),
        strategy => one_sided(&offers, &bids, admitted.min(demand), strategy)?,
    };
    let matched = traded.as_ref().map_or(0, |t| t.shares.iter().sum());
    let mut settlement = Settlement {
        strategy: policy.strategy,
        price: last_price.unwrap_or(policy.default_price),
        price_source: if last_price.is_some() { PriceSource::Previous } else { PriceSource::Default },
        produced: Wh::new(produced),
        admitted: Wh::new(admitted),
        used: Wh::new(used),
        matched: Wh::new(matched),
        imported: Wh::new(demand - matched),
        exported: Wh::new(offered - matched),
        revenue: Iota::ZERO,
        fee: Iota::ZERO,
        unallocated: Iota::ZERO,
        producers: Vec::new(),
        consumers: Vec::new(),
        cap,
        feed_in: policy.feed_in,
        self_consumed: Wh::new(self_consumed),
        offered: Wh::new(offered),
        demand: Wh::new(demand),
        self_sufficiency_bps: bps(self_consumed + matched, used),
        self_consumption_bps: bps(self_consumed + matched, produced),
        savings: Iota::ZERO,
        gains: 0,
    };
    let Some(Traded { price, shares, local }) = traded.filter(|_| matched > 0) else {
        settlement.producers = producers;
        settlement.consumers = consumers;
        return Ok(settlement);
    };
    settlement.price = price;
    settlement.price_source = PriceSource::Traded;

    let mut revenue: u128 = 0;
    let mut savings: u128 = 0;
    for (bid, local) in bids.iter().zip(local) {
        let consumer = &mut consumers[bid.index];
        let charge = (u128::from(local) * u128::from(price.get()) + 500) / 1000;
        // price ≤ cap, so the utility's bill is never below the charge.
        let saved = (u128::from(local) * u128::from(cap.get()) + 500) / 1000 - charge;
        revenue += charge;
        savings += saved;
        consumer.local = Wh::new(local);
        consumer.imported = Wh::new(bid.energy - local);
        consumer.charge = Iota::new(u64::try_from(charge).map_err(|_| overflow("charge"))?);
        consumer.savings = Iota::new(u64::try_from(saved).map_err(|_| overflow("savings"))?);
    }
    let revenue = u64::try_from(revenue).map_err(|_| overflow("revenue"))?;
    // fee ≤ revenue, so it fits.
    let fee = (u128::from(revenue) * u128::from(policy.fee.get()) / 10_000) as u64;
    let distributable = revenue - fee;

    let weights: Vec<(&RegistrationId, u128)> =
        offers.iter().zip(&shares).map(|(o, m)| (o.seller, u128::from(*m))).collect();
    let allocations = apportion(distributable, &weights);
    let allocated: u64 = allocations.iter().sum();
    let mut gains: i128 = 0;
    for ((offer, matched), allocation) in offers.iter().zip(shares).zip(allocations) {
        let producer = &mut producers[offer.index];
        let feed_in = (u128::from(matched) * u128::from(policy.feed_in.get()) + 500) / 1000;
        let gain = i128::from(allocation) - i128::try_from(feed_in).map_err(|_| overflow("gain"))?;
        gains += gain;
        producer.matched = Wh::new(matched);
        producer.exported = Wh::new(offer.energy - matched);
        producer.allocation = Iota::new(allocation);
        producer.gain = i64::try_from(gain).map_err(|_| overflow("gain"))?;
    }
    settlement.revenue = Iota::new(revenue);
    settlement.fee = Iota::new(fee);
    settlement.unallocated = Iota::new(distributable - allocated);
    settlement.savings = Iota::new(u64::try_from(savings).map_err(|_| overflow("savings"))?);
    settlement.gains = i64::try_from(gains).map_err(|_| overflow("gains"))?;
    settlement.producers = producers;
    settlement.consumers = consumers;
    Ok(settlement)
}

/// The worth of what a seller offers: `V · offered / G`, floored (all of `V` for a
/// producer, which uses none of its output): what `weighted` averages.
fn worth_of_offered(worth: u128, offered: u64, output: u64) -> u128 {
    if offered == output {
        return worth;
    }
    // V < 2^128 and offered < 2^64: the product fits 256 bits, the quotient V.
    (U256::from(worth) * U256::from(offered) / U256::from(output)).as_u128()
}

/// `floor(10000 · part / whole)`, 0 for nothing.
fn bps(part: u64, whole: u64) -> u64 {
    (u128::from(part) * 10_000).checked_div(u128::from(whole)).map_or(0, |bps| bps as u64)
}

fn price_of(value: u128, what: &'static str) -> Result<Price, SettlementError> {
    Price::parse(u64::try_from(value).map_err(|_| overflow(what))?).map_err(|_| overflow(what))
}

/// Adds energies, refusing to wrap.
fn sum(values: impl Iterator<Item = u64>, what: &'static str) -> Result<u64, SettlementError> {
    values.into_iter().try_fold(0u64, |sum, v| sum.checked_add(v)).ok_or(overflow(what))
}

/// What a period's market traded: the price, each admitted offer's matched energy (in
/// the offers' order) and each buyer's local energy (in the bids' order).
struct Traded {
    price: Price,
    shares: Vec<u64>,
    local: Vec<u64>,
}

/// Two-sided pay-as-clear (`clearing`): offers in merit order against buyers' bid
/// levels, highest first, while the offer's ask is at most the level's bid. Each
/// level's trade is shared among its buyers by their demand. `None` if nothing trades.
fn clear(offers: &[Offer<'_>], bids: &[Bid<'_>]) -> Option<Traded> {
    let mut merit: Vec<usize> = (0..offers.len()).collect();
    merit.sort_by(|a, b| (offers[*a].ask, offers[*a].seller).cmp(&(offers[*b].ask, offers[*b].seller)));
    // Levels of equal bid, highest first; each its buyers (by index) and their demand.
    let mut levels: BTreeMap<std::cmp::Reverse<Price>, Vec<usize>> = BTreeMap::new();
    for (i, bid) in bids.iter().enumerate() {
        levels.entry(std::cmp::Reverse(bid.bid)).or_default().push(i);
    }
    let levels: Vec<(Price, Vec<usize>, u64)> = levels
        .into_iter()
        .map(|(std::cmp::Reverse(bid), buyers)| {
            let demand = buyers.iter().map(|i| bids[*i].energy).sum();
            (bid, buyers, demand)
        })
        .collect();
    let mut shares = vec![0u64; offers.len()];
    let mut traded_of_level = vec![0u64; levels.len()];
    let (mut o, mut l) = (0, 0);
    let mut marginal = None;
    while o < merit.len() && l < levels.len() && offers[merit[o]].ask <= levels[l].0 {
        let offer = merit[o];
        let trade = (offers[offer].energy - shares[offer]).min(levels[l].2 - traded_of_level[l]);
        shares[offer] += trade;
        traded_of_level[l] += trade;
        marginal = Some(offers[offer].ask);
        if shares[offer] == offers[offer].energy {
            o += 1;
        }
        if traded_of_level[l] == levels[l].2 {
            l += 1;
        }
    }
    let price = marginal?;
    let mut local = vec![0u64; bids.len()];
    for ((_, buyers, _), traded) in levels.iter().zip(traded_of_level) {
        let weights: Vec<(&RegistrationId, u128)> =
            buyers.iter().map(|i| (bids[*i].buyer, u128::from(bids[*i].energy))).collect();
        for (buyer, share) in buyers.iter().zip(apportion(traded, &weights)) {
            local[*buyer] = share;
        }
    }
    Some(Traded { price, shares, local })
}

/// The seed's consensus prices (`weighted`, `mean`, `median`), one-sided: `matched`
/// Wh shared among admitted offers by their energy and among buyers by their demand.
fn one_sided(
    offers: &[Offer<'_>],
    bids: &[Bid<'_>],
    matched: u64,
    strategy: ConsensusStrategy,
) -> Result<Option<Traded>, SettlementError> {
    if matched == 0 {
        return Ok(None);
    }
    let price = match strategy {
        ConsensusStrategy::Weighted => {
            let worth: u128 = offers.iter().map(|o| o.worth).sum();
            let energy: u128 = offers.iter().map(|o| u128::from(o.energy)).sum();
            price_of(worth / energy, "price")?
        }
        ConsensusStrategy::Mean => {
            let asks: u128 = offers.iter().map(|o| u128::from(o.ask.get())).sum();
            price_of(asks / offers.len() as u128, "price")?
        }
        // (`clearing` is two-sided and never comes here.)
        ConsensusStrategy::Median | ConsensusStrategy::Clearing => {
            let mut asks: Vec<Price> = offers.iter().map(|o| o.ask).collect();
            asks.sort_unstable();
            asks[(asks.len() - 1) / 2]
        }
    };
    let supply: Vec<(&RegistrationId, u128)> = offers.iter().map(|o| (o.seller, u128::from(o.energy))).collect();
    let demand: Vec<(&RegistrationId, u128)> = bids.iter().map(|b| (b.buyer, u128::from(b.energy))).collect();
    Ok(Some(Traded { price, shares: apportion(matched, &supply), local: apportion(matched, &demand) }))
}
