//! A producer: hosts the registration API for its sources, reads their channels,
//! aggregates their output per slot, offers it to the grid at its asking price, and
//! watches its payouts arrive on the ledger.
//!
//! Its state lives with the grid (storage API, registration `{producerId}`): the sources
//! (`sources/{sourceId}`) and, in one item so it is written atomically, the aggregation,
//! how far each source's channel was read and the offers about to be published
//! (`state/producer`). A step saves that state before it publishes the offers and again
//! after; a crash in between publishes the same offers again, which the grid stores once
//! (a reading is unique by producer and start time). So no source reading is counted
//! twice or lost.

mod api;
mod book;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use grid_client::channels::{ChannelClient, ChannelReader};
use grid_core::channel::{Command, Reading};
use grid_core::devices::{Aggregator, AggregatorState, Placement, Slot};
use grid_core::{EpochMs, Iota, PaymentAddress, Price, RegistrationId, Wh};
use serde::{Deserialize, Serialize};

pub use api::router;
pub use book::{SourceBook, SourceRecord};

use crate::{AgentError, GridApi, OwnChannel, Wallet};

/// Messages read from one source per step.
const READ_LIMIT: u64 = 1_000;

/// How a producer trades.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub id: RegistrationId,
    pub name: Option<String>,
    /// Asking price, IOTA per kWh.
    pub price: Price,
    /// Where the grid pays the producer.
    pub payment_address: PaymentAddress,
    /// The offer slot, ms.
    pub slot_ms: u64,
    /// How long after a slot ends its offer waits for late source data, ms.
    pub delay_ms: u64,
}

/// What the producer keeps with the grid between steps.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProducerState {
    aggregation: AggregatorState,
    /// Next index to read, per source channel root.
    cursors: BTreeMap<String, u64>,
    /// Roots of channels that said goodbye.
    closed: BTreeSet<String>,
    /// Offers decided but maybe not yet published: `(slot start, slot end, Wh)`.
    outbox: Vec<(u64, u64, u64)>,
}

/// What one step did.
#[derive(Debug, Default)]
pub struct ProducerStep {
    /// Source readings counted.
    pub read: Vec<(RegistrationId, Reading)>,
    /// Readings that came after their slot was offered, carried into a later slot.
    pub carried: Vec<(RegistrationId, Placement)>,
    /// Offers published to the grid.
    pub offered: Vec<(Slot, Wh)>,
    /// Money that arrived on the ledger since the last step, and the balance.
    pub paid: Option<(Iota, Iota)>,
}

/// A running producer.
pub struct Producer {
    settings: ProducerSettings,
    grid: GridApi,
    channel_client: Arc<dyn ChannelClient>,
    channel: OwnChannel,
    book: SourceBook,
    aggregator: Aggregator,
    state: ProducerState,
    wallet: Option<Wallet>,
    balance: Option<Iota>,
}

const STATE_CONTEXT: &str = "state";
const STATE_ITEM: &str = "producer";

impl Producer {
    /// Opens the producer's channel, registers with the grid and loads its state.
    pub async fn start(
        settings: ProducerSettings,
        grid: GridApi,
        channel_client: Arc<dyn ChannelClient>,
        mut channel: OwnChannel,
        mut wallet: Option<Wallet>,
    ) -> Result<Self, AgentError> {
        channel.hello().await?;
        grid.register(&settings.id, "producer", settings.name.as_deref(), channel.access()).await?;
        // Its payout address, when it is its own (`wallet-{id}`), is claimed before any
        // payout can reach it, so nobody else can claim it and move the money out.
        if let Some(wallet) = wallet.as_mut()
            && wallet.account().as_str() == format!("wallet-{}", settings.id)
        {
            wallet.claim(channel.account_key(), channel.access().side_key()).await?;
        }
        let owner_key = channel.access().side_key().clone();
        let book = SourceBook::load(settings.id.clone(), owner_key, channel.sealer(), grid.clone()).await?;
        let state: ProducerState = match grid.get_item(&settings.id, STATE_CONTEXT, STATE_ITEM).await? {
            Some(value) => serde_json::from_value(value).map_err(|e| AgentError::Unreadable {
                url: format!("{}/storage/{}/{STATE_CONTEXT}/{STATE_ITEM}", grid.base(), settings.id),
                reason: e.to_string(),
            })?,
            None => ProducerState::default(),
        };
        let aggregator = Aggregator::new(settings.slot_ms, settings.delay_ms, state.aggregation.clone());
        tracing::info!(producer = %settings.id, sources = book.all().await.len(), root = %channel.access().root(), "producer registered with the grid");
        Ok(Self { settings, grid, channel_client, channel, book, aggregator, state, wallet, balance: None })
    }

    pub fn settings(&self) -> &ProducerSettings {
        &self.settings
    }

    pub fn channel(&self) -> &OwnChannel {
        &self.channel
    }

    /// The sources, for the producer's registration API.
    pub fn book(&self) -> SourceBook {
        self.book.clone()
    }

    /// Reads the sources, offers the slots that are due at `now`, and looks at the wallet.
    pub async fn step(&mut self, now: u64) -> Result<ProducerStep, AgentError> {
        let mut step = ProducerStep::default();
        let sources = self.book.all().await;
        for (id, source) in &sources {
            let root = source.access.root().to_string();
            if self.state.closed.contains(&root) {
                continue;
            }
            let from = self.state.cursors.get(&root).copied().unwrap_or(1);
            let batch = match ChannelReader::new(source.access.clone(), self.channel_client.clone())
                .read(from, READ_LIMIT)
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    // One unreachable channel does not hold back the others.
                    tracing::warn!(source = %id, error = %e, "reading a source failed");
                    continue;
                }
            };
            for message in batch.messages {
                match message.command {
                    Command::SourceOutput(reading) => {
                        let placement = self.aggregator.add(&reading);
                        if let Placement::Carried { late_for, into } = placement {
                            tracing::info!(source = %id, late_for = late_for.start, into = into.start, wh = reading.energy.get(), "late source data carried into a later slot");
                            step.carried.push((id.clone(), placement));
                        }
                        step.read.push((id.clone(), reading));
                    }
                    Command::Goodbye => {
                        tracing::info!(source = %id, "source said goodbye");
                        self.state.closed.insert(root.clone());
                    }
                    Command::Hello => {}
                    other => {
                        tracing::warn!(source = %id, command = other.name(), index = message.index, "a source sent something other than output; ignored")
                    }
                }
            }
            for rejected in batch.rejected {
                tracing::warn!(source = %id, index = rejected.index, reason = %rejected.reason, "unreadable source message skipped");
            }
            self.state.cursors.insert(root, batch.next_index);
        }
        // Forget cursors of channels no source uses any more.
        let roots: BTreeSet<String> = sources.values().map(|s| s.access.root().to_string()).collect();
        self.state.cursors.retain(|root, _| roots.contains(root));
        self.state.closed.retain(|root| roots.contains(root));

        let due = self.aggregator.due(now);
        self.state.outbox.extend(due.iter().map(|(slot, wh)| (slot.start, slot.end, wh.get())));
        self.save().await?;
        while let Some(&(start, end, wh)) = self.state.outbox.first() {
            let reading = Reading { start: epoch(start), end: epoch(end), energy: Wh::new(wh) };
            let offer = Command::ProducerOutput {
                reading,
                price: self.settings.price,
                payment_address: self.settings.payment_address.clone(),
            };
            self.channel.publish(&offer).await?;
            self.state.outbox.remove(0);
            step.offered.push((Slot { start, end }, Wh::new(wh)));
        }
        if !step.offered.is_empty() {
            self.save().await?;
        }
        step.paid = self.watch_wallet().await;
        Ok(step)
    }

    async fn save(&mut self) -> Result<(), AgentError> {
        self.state.aggregation = self.aggregator.state().clone();
        let value = serde_json::to_value(&self.state).expect("plain data serializes");
        let owner = self.channel.access().side_key();
        self.grid.put_item(&self.settings.id, owner, STATE_CONTEXT, STATE_ITEM, &value).await
    }

    /// What arrived since the last look; a ledger that cannot answer is only logged.
    async fn watch_wallet(&mut self) -> Option<(Iota, Iota)> {
        let wallet = self.wallet.as_ref()?;
        let balance = match wallet.balance().await {
            Ok(balance) => balance,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the wallet's balance");
                return None;
            }
        };
        let before = self.balance.replace(balance).unwrap_or(Iota::ZERO);
        let arrived = balance.get().saturating_sub(before.get());
        if arrived > 0 {
            tracing::info!(producer = %self.settings.id, arrived, balance = balance.get(), "payout received");
            return Some((Iota::new(arrived), balance));
        }
        None
    }

    /// Stops; with `leave`, ends the channel with `goodbye` and deregisters from the grid
    /// (which deletes the producer's stored sources and state).
    pub async fn stop(mut self, leave: bool) -> Result<(), AgentError> {
        if leave {
            self.channel.goodbye().await?;
            self.grid.deregister(&self.settings.id, self.channel.access().side_key()).await?;
            tracing::info!(producer = %self.settings.id, "producer said goodbye and deregistered");
        }
        Ok(())
    }
}

fn epoch(ms: u64) -> EpochMs {
    EpochMs::parse(ms as i64).expect("slot times come from valid readings")
}
