//! One registration in full: its account, readings, the latest messages of its channel
//! and of its return channel, its payments and its rejections.

use grid_client::channels::ChannelReader;
use grid_core::RegistrationId;
use grid_core::channel::ChannelAccess;
use grid_store::StoreError;
use serde::Serialize;
use serde_json::Value;

use super::{BatchRow, ConsumerRow, PortalData, ProducerRow, RejectionRow, status};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadingRow {
    pub kind: String,
    pub start: u64,
    pub end: u64,
    pub wh: u64,
    pub price: Option<u64>,
    pub channel_index: u64,
    pub period: u64,
    pub counted_in: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRow {
    pub index: u64,
    /// The command as it reads on the channel.
    #[schema(value_type = Object)]
    pub command: Value,
}

/// Everything about one registration.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub id: String,
    pub name: Option<String>,
    pub item_type: String,
    pub status: String,
    pub created: u64,
    pub root: Option<String>,
    pub read_up_to: u64,
    pub producer: Option<ProducerRow>,
    pub consumer: Option<ConsumerRow>,
    pub readings: Vec<ReadingRow>,
    /// The latest messages of its own channel.
    pub messages: Vec<MessageRow>,
    /// A consumer's return channel: what the grid told it.
    pub return_messages: Vec<MessageRow>,
    pub payments: Vec<BatchRow>,
    pub rejections: Vec<RejectionRow>,
}

impl PortalData {
    /// The latest `count` messages of a channel, read up to `until`.
    async fn messages(&self, access: ChannelAccess, until: u64, count: u64) -> Vec<MessageRow> {
        let from = until.saturating_sub(count);
        match ChannelReader::new(access, self.channel_client.clone()).read(from, count).await {
            Ok(read) => read
                .messages
                .into_iter()
                .rev()
                .map(|m| MessageRow {
                    index: m.index,
                    command: serde_json::from_str(&m.command.to_json()).unwrap_or(Value::Null),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the portal cannot read a channel");
                Vec::new()
            }
        }
    }

    pub async fn detail(&self, id: &RegistrationId) -> Result<Option<Detail>, StoreError> {
        let Some(r) = self.stores.registrations.get(id).await?.map(|v| v.value) else { return Ok(None) };
        let producer = if r.item_type.sells() { Some(self.producer_row(&r).await?) } else { None };
        let consumer = if r.item_type.buys() { Some(self.consumer_row(&r).await?) } else { None };
        let readings = self
            .stores
            .readings
            .of_registration(id, 50)
            .await?
            .into_iter()
            .map(|s| ReadingRow {
                kind: s.kind.as_str().to_owned(),
                start: s.reading.start.get(),
                end: s.reading.end.get(),
                wh: s.reading.energy.get(),
                price: s.price.map(|p| p.get()),
                channel_index: s.channel_index,
                period: s.period.get(),
                counted_in: s.counted_in.get(),
            })
            .collect();
        let messages = match &r.channel {
            Some(c) => {
                let access = ChannelAccess::new(c.root.clone(), c.side_key.clone());
                self.messages(access, r.cursor.next_index, 20).await
            }
            None => Vec::new(),
        };
        let return_messages = match &r.return_channel {
            Some(rc) => self.messages(rc.secrets().access().clone(), rc.next_index, 20).await,
            None => Vec::new(),
        };
        let payments = self
            .stores
            .accounts
            .batches(None, 1_000)
            .await?
            .into_iter()
            .filter(|b| &b.registration == id)
            .map(BatchRow::from)
            .collect();
        let rejections =
            self.stores.rejections.for_registration(id, 50).await?.into_iter().map(RejectionRow::from).collect();
        Ok(Some(Detail {
            id: r.id.to_string(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            item_type: r.item_type.as_str().to_owned(),
            status: status(&r).to_owned(),
            created: r.created.get(),
            root: r.channel.as_ref().map(|c| c.root.to_string()),
            read_up_to: r.cursor.next_index,
            producer,
            consumer,
            readings,
            messages,
            return_messages,
            payments,
            rejections,
        }))
    }
}

/// What a command's JSON says, for a table cell.
pub fn command_name(command: &Value) -> &str {
    command["command"].as_str().unwrap_or("usage")
}
