//! The producers and the consumers (prosumers among both): each registration's account
//! as a row, listed a page at a time through the store's index by type.

use grid_core::{ItemType, Registration};
use grid_store::StoreError;
use serde::Serialize;

use super::{Page, PortalData, status};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastReading {
    pub start: u64,
    pub end: u64,
    pub wh: u64,
    pub price: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProducerRow {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub produced_wh: u64,
    /// What the local market used of it.
    pub matched_wh: u64,
    /// What it offered beyond that (its utility took it).
    pub exported_wh: u64,
    pub earned: u64,
    pub paid_out: u64,
    pub payout_pending: u64,
    pub owed: u64,
    pub last_reading: Option<LastReading>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRow {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub used_wh: u64,
    /// What it got from the local market (billed).
    pub local_wh: u64,
    /// What its utility supplied.
    pub imported_wh: u64,
    pub billed: u64,
    pub paid: u64,
    pub pending: u64,
    pub outstanding: u64,
}

impl PortalData {
    pub(super) async fn producer_row(&self, r: &Registration) -> Result<ProducerRow, StoreError> {
        let account = self.stores.accounts.get(&r.id).await?.unwrap_or_default();
        let last = self.stores.readings.of_registration(&r.id, 1).await?.into_iter().next();
        Ok(ProducerRow {
            id: r.id.to_string(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            status: status(r).to_owned(),
            produced_wh: account.energy.get(),
            matched_wh: account.matched.get(),
            exported_wh: account.unmatched().get(),
            earned: account.entitled.get(),
            paid_out: account.paid_out.get(),
            payout_pending: account.payout_pending.get(),
            owed: account.unpaid().get(),
            last_reading: last.map(|l| LastReading {
                start: l.reading.start.get(),
                end: l.reading.end.get(),
                wh: l.reading.energy.get(),
                price: l.price.map(|p| p.get()),
            }),
        })
    }

    pub(super) async fn consumer_row(&self, r: &Registration) -> Result<ConsumerRow, StoreError> {
        let account = self.stores.accounts.get(&r.id).await?.unwrap_or_default();
        Ok(ConsumerRow {
            id: r.id.to_string(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            status: status(r).to_owned(),
            used_wh: account.energy.get(),
            local_wh: account.matched.get(),
            imported_wh: account.unmatched().get(),
            billed: account.billed.get(),
            paid: account.paid.get(),
            pending: account.pending.get(),
            outstanding: account.owed().get(),
        })
    }

    /// Page `page` of the registrations of `types`, one type after the other (each in
    /// the store's index order), through the store's index.
    async fn of_types(
        &self,
        types: &[ItemType],
        page: usize,
        page_size: usize,
    ) -> Result<Page<Registration>, StoreError> {
        let counts = self.stores.registrations.counts().await?;
        let total_items = types.iter().map(|t| counts.of(*t).total() as usize).sum::<usize>();
        // A page far past the end is empty, however far (no overflow).
        let mut skip = page.saturating_mul(page_size);
        let mut items = Vec::new();
        for item_type in types {
            let of_type = counts.of(*item_type).total() as usize;
            if skip >= of_type {
                skip -= of_type;
                continue;
            }
            items.extend(self.stores.registrations.of_type(*item_type, skip, page_size - items.len()).await?);
            skip = 0;
            if items.len() == page_size {
                break;
            }
        }
        Ok(Page { items, page, page_size, total_items, total_pages: total_items.div_ceil(page_size.max(1)) })
    }

    /// The sellers: producers, then prosumers.
    pub async fn producers(&self, page: usize, page_size: usize) -> Result<Page<ProducerRow>, StoreError> {
        let registrations = self.of_types(&[ItemType::Producer, ItemType::Prosumer], page, page_size).await?;
        let mut items = Vec::new();
        for r in &registrations.items {
            items.push(self.producer_row(r).await?);
        }
        Ok(Page { items, ..registrations.map_empty() })
    }

    /// The buyers: consumers, then prosumers.
    pub async fn consumers(&self, page: usize, page_size: usize) -> Result<Page<ConsumerRow>, StoreError> {
        let registrations = self.of_types(&[ItemType::Consumer, ItemType::Prosumer], page, page_size).await?;
        let mut items = Vec::new();
        for r in &registrations.items {
            items.push(self.consumer_row(r).await?);
        }
        Ok(Page { items, ..registrations.map_empty() })
    }
}
