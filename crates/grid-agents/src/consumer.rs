//! A consumer: registers with the grid (which gives it a return channel), reports what
//! it used every slot, reads its payment requests and pays them on the ledger, then
//! tells the grid which ledger batch paid (`payment`), for the grid to verify.
//!
//! With [`Production`] it is a prosumer (a home with panels behind its own meter): it
//! registers as one and reports its output on the same channel, offered at its price
//! and paid to its own ledger account, the one it pays its bills from.
//!
//! Each payment request restates the whole debt, so the consumer answers only the
//! latest one, once: the ledger batch that pays it is named after the request's index
//! on the return channel, so a consumer that crashes and pays again sends the same
//! batch, which the ledger applies once.

use std::sync::Arc;

use grid_client::channels::{ChannelClient, ChannelReader};
use grid_core::channel::{ChannelAccess, Command, Reading};
use grid_core::ledger::BatchStatus;
use grid_core::{BatchId, Iota, PaymentAddress, Price, RegistrationId};

use crate::meter::SlotMeter;
use crate::{AgentError, GridApi, Meter, OwnChannel, Wallet};

/// How a consumer behaves.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub id: RegistrationId,
    pub name: Option<String>,
    /// The usage slot, ms.
    pub slot_ms: u64,
    /// Pay only when at least this much is owed (1: pay every request).
    pub pay_threshold: Iota,
    /// The most it pays for local energy (`consumerPrice` on each usage reading); none:
    /// the utility's tariff, which every buyer falls back on.
    pub bid: Option<Price>,
}

/// A payment request as the consumer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// Its index on the return channel.
    pub index: u64,
    pub owed: Iota,
    pub payment_address: PaymentAddress,
}

/// A prosumer's own production: its meter and the price it asks.
pub struct Production {
    pub meter: Meter,
    pub price: Price,
}

/// What one step did.
#[derive(Debug, Default)]
pub struct ConsumerStep {
    pub reported: Vec<Reading>,
    /// A prosumer's output readings reported.
    pub produced: Vec<Reading>,
    pub bills: Vec<Bill>,
    /// The batch that paid, and how much.
    pub paid: Option<(BatchId, Iota)>,
    /// A payment's batch that turned final on the ledger, and the balance after it.
    pub settled: Option<(BatchId, BatchStatus, Iota)>,
}

/// A running consumer.
pub struct Consumer {
    settings: ConsumerSettings,
    grid: GridApi,
    channel_client: Arc<dyn ChannelClient>,
    channel: OwnChannel,
    meter: SlotMeter,
    /// A prosumer's output meter and ask.
    production: Option<(SlotMeter, Price)>,
    wallet: Wallet,
    return_channel: ChannelAccess,
    /// Whether its ledger account is claimed with its key (a payment waits until it is).
    claimed: bool,
    /// The last payment's batch, until it is final on the ledger.
    unsettled: Option<BatchId>,
    read_from: u64,
    /// The latest bill read, and whether it was answered.
    latest: Option<(Bill, bool)>,
}

impl Consumer {
    /// Opens the consumer's channel, claims its ledger account with the key its seed
    /// gives (so only it can pay from it), and registers with the grid.
    pub async fn start(
        settings: ConsumerSettings,
        grid: GridApi,
        channel_client: Arc<dyn ChannelClient>,
        channel: OwnChannel,
        meter: Meter,
        wallet: Wallet,
    ) -> Result<Self, AgentError> {
        Self::start_home(settings, grid, channel_client, channel, meter, None, wallet).await
    }

    /// [`start`](Self::start), as a prosumer when it has `production`.
    pub async fn start_home(
        settings: ConsumerSettings,
        grid: GridApi,
        channel_client: Arc<dyn ChannelClient>,
        mut channel: OwnChannel,
        meter: Meter,
        production: Option<Production>,
        wallet: Wallet,
    ) -> Result<Self, AgentError> {
        channel.hello().await?;
        let kind = if production.is_some() { "prosumer" } else { "consumer" };
        let registered = grid.register(&settings.id, kind, settings.name.as_deref(), channel.access()).await?;
        let return_channel = registered.return_channel.ok_or_else(|| AgentError::Unreadable {
            url: format!("{}/registration/{}", grid.base(), settings.id),
            reason: "the grid gave a consumer no return channel".into(),
        })?;
        tracing::info!(consumer = %settings.id, root = %channel.access().root(), "consumer registered with the grid");
        let meter = SlotMeter::new(meter, settings.slot_ms);
        let production = production.map(|p| (SlotMeter::new(p.meter, settings.slot_ms), p.price));
        let mut consumer = Self {
            settings,
            grid,
            channel_client,
            channel,
            meter,
            production,
            wallet,
            return_channel,
            claimed: false,
            unsettled: None,
            read_from: 0,
            latest: None,
        };
        // A claim the ledger refuses (someone else holds the account) stops the consumer
        // here, before anything is paid into or out of it; a busy ledger is tried again.
        consumer.claim().await?;
        Ok(consumer)
    }

    /// Claims the consumer's ledger account with the key its seed gives, proven with its
    /// channel's side key, so only it can pay from it; `Ok(false)` (and said) if the
    /// ledger could not take the claim this time, an error if it refused it.
    async fn claim(&mut self) -> Result<bool, AgentError> {
        if !self.claimed {
            match self.wallet.claim(self.channel.account_key(), self.channel.access().side_key()).await {
                Ok(()) => self.claimed = true,
                Err(refused @ AgentError::Refused { status: 400..=499, .. }) => return Err(refused),
                Err(error) => {
                    tracing::warn!(consumer = %self.settings.id, %error, "ledger account not claimed; retrying")
                }
            }
        }
        Ok(self.claimed)
    }

    /// The ledger batch that pays the bill at `index` of the return channel: the same
    /// for that bill however often it is sent (the ledger applies it once), and
    /// unguessable without the consumer's key, so nobody can take its id first.
    fn batch_id(channel: &OwnChannel, index: u64) -> BatchId {
        use sha2::Digest;
        let key = channel.account_key();
        let tag = sha2::Sha256::new().chain_update(key.expose()).chain_update(index.to_be_bytes()).finalize();
        BatchId::parse(format!("pay-{}-{index}", hex::encode(&tag[..12]))).expect("hex and a number make a batch id")
    }

    pub fn settings(&self) -> &ConsumerSettings {
        &self.settings
    }

    pub fn channel(&self) -> &OwnChannel {
        &self.channel
    }

    pub fn return_channel(&self) -> &ChannelAccess {
        &self.return_channel
    }

    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// Reports usage for the slots that ended by `now`, reads new payment requests, and
    /// pays the latest one if it is owed enough.
    pub async fn step(&mut self, now: u64) -> Result<ConsumerStep, AgentError> {
        let bid = self.settings.bid;
        let usage = |reading| match bid {
            Some(bid) => Command::PricedUsage { reading, bid },
            None => Command::Usage(reading),
        };
        let reported = self.meter.report(now, &mut self.channel, usage).await?;
        let mut step = ConsumerStep { reported, ..ConsumerStep::default() };
        if let Some((meter, price)) = &mut self.production {
            // Paid to its own account: the one its bills are paid from.
            let (price, payment_address) = (*price, self.wallet.account().clone());
            let output = |reading| Command::ProducerOutput { reading, price, payment_address: payment_address.clone() };
            step.produced = meter.report(now, &mut self.channel, output).await?;
        }
        if let Some(batch) = &self.unsettled {
            // A ledger that cannot say now is asked again next step.
            match self.wallet.after(batch).await {
                Ok(Some((status, balance))) => step.settled = self.unsettled.take().map(|b| (b, status, balance)),
                Ok(None) => {}
                Err(error) => tracing::debug!(consumer = %self.settings.id, %error, "payment's status unknown yet"),
            }
        }

        let read = ChannelReader::new(self.return_channel.clone(), self.channel_client.clone())
            .read(self.read_from, 1_000)
            .await?;
        for message in read.messages {
            match message.command {
                Command::PaymentRequest { owed, payment_address, .. } => {
                    let bill = Bill { index: message.index, owed, payment_address };
                    step.bills.push(bill.clone());
                    self.latest = Some((bill, false));
                }
                Command::Goodbye => tracing::warn!(consumer = %self.settings.id, "the grid closed the return channel"),
                _ => {}
            }
        }
        self.read_from = read.next_index;

        // A payment waits until the account is claimed: the ledger refuses it before.
        let due = |(bill, answered): &(Bill, bool)| {
            !answered && bill.owed.get() > 0 && bill.owed >= self.settings.pay_threshold
        };
        if self.latest.as_ref().is_some_and(due) && !self.claim().await? {
            return Ok(step);
        }
        if let Some((bill, answered)) = &mut self.latest
            && !*answered
        {
            if bill.owed.get() == 0 || bill.owed < self.settings.pay_threshold {
                *answered = bill.owed.get() == 0;
            } else {
                let batch = Self::batch_id(&self.channel, bill.index);
                // A ledger that cannot take the payment now gets it again next step, with
                // the same batch id (the ledger applies a batch once).
                if let Err(error) = self.wallet.pay(batch.clone(), &bill.payment_address, bill.owed).await {
                    tracing::warn!(consumer = %self.settings.id, batch = %batch, %error, "payment not taken; retrying next step");
                    return Ok(step);
                }
                self.channel.publish(&Command::Payment { batch_id: batch.clone(), amount: bill.owed }).await?;
                tracing::info!(consumer = %self.settings.id, batch = %batch, amount = bill.owed.get(), "bill paid");
                *answered = true;
                self.unsettled = Some(batch.clone());
                step.paid = Some((batch, bill.owed));
            }
        }
        Ok(step)
    }

    /// Stops; with `leave`, ends the channel with `goodbye` and deregisters from the grid.
    pub async fn stop(mut self, leave: bool) -> Result<(), AgentError> {
        if leave {
            self.channel.goodbye().await?;
            self.grid.deregister(&self.settings.id, self.channel.access().side_key()).await?;
            tracing::info!(consumer = %self.settings.id, "consumer said goodbye and deregistered");
        }
        Ok(())
    }
}
