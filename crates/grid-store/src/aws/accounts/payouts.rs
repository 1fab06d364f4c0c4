//! Paying producers: what is owed and held, payouts recorded and settled once.

use super::*;
use crate::PayoutBook;

#[async_trait]
impl PayoutBook for DynamoAccountStore {
    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError> {
        // One scan finds both what is owed (entitlements) and to whom (their accounts).
        let items = self
            .scan(
                "(begins_with(id, :owed) AND unpaid > :zero) OR owedOut > :zero",
                &[(":owed", s("owed#")), (":zero", n(0))],
            )
            .await?;
        let mut owed: std::collections::BTreeMap<RegistrationId, Vec<Entitlement>> = Default::default();
        let mut accounts = Vec::new();
        for item in &items {
            if !get_s(item, ACCOUNTS, "id")?.starts_with("owed#") {
                accounts.push(item);
                continue;
            }
            let producer =
                RegistrationId::parse(get_s(item, ACCOUNTS, "producer")?).map_err(|e| corrupt("entitlement", e))?;
            owed.entry(producer.clone()).or_default().push(Entitlement {
                period: PeriodStart::parse(get_n(item, ACCOUNTS, "period")?).map_err(|e| corrupt("entitlement", e))?,
                producer,
                address: PaymentAddress::parse(get_s(item, ACCOUNTS, "address")?)
                    .map_err(|e| corrupt("entitlement", e))?,
                unpaid: Iota::new(get_n(item, ACCOUNTS, "unpaid")?),
            });
        }
        let mut unpaid = Vec::new();
        for item in accounts {
            let producer = RegistrationId::parse(get_s(item, ACCOUNTS, "id")?).map_err(|e| corrupt("account", e))?;
            let Some(mut entitlements) = owed.remove(&producer) else { continue };
            entitlements.sort_by_key(|e| e.period);
            unpaid.push(Unpaid {
                producer,
                owed: entitlements,
                paid_before: Iota::new(
                    opt_n(item, ACCOUNTS, "paidOut")?
                        .unwrap_or(0)
                        .checked_add(opt_n(item, ACCOUNTS, "payoutPending")?.unwrap_or(0))
                        .ok_or_else(|| corrupt("account", "paid out overflows"))?,
                ),
                refused: opt_n(item, ACCOUNTS, "refused")?.unwrap_or(0),
            });
        }
        unpaid.sort_by(|a, b| a.producer.cmp(&b.producer));
        Ok(unpaid)
    }

    async fn funds(&self) -> Result<Vec<Funds>, StoreError> {
        // A missing `spent` is zero (ADD creates it), which a filter expression cannot
        // say; compare here.
        let items = self.scan("begins_with(id, :wallet)", &[(":wallet", s("wallet#"))]).await?;
        let mut funds = items
            .iter()
            .map(|item| {
                let received = opt_n(item, ACCOUNTS, "received")?.unwrap_or(0);
                let spent = opt_n(item, ACCOUNTS, "spent")?.unwrap_or(0);
                Ok(Funds {
                    address: PaymentAddress::parse(get_s(item, ACCOUNTS, "address")?)
                        .map_err(|e| corrupt("wallet", e))?,
                    seq: opt_n(item, ACCOUNTS, "seq")?.unwrap_or(u64::MAX),
                    // Spent beyond received is not a state the books can reach.
                    available: Iota::new(
                        received.checked_sub(spent).ok_or_else(|| corrupt("wallet", "spent more than received"))?,
                    ),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        funds.retain(|f| f.available.get() > 0);
        funds.sort_by(|a, b| (a.seq, &a.address).cmp(&(b.seq, &b.address)));
        Ok(funds)
    }

    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError> {
        let put = self.new_batch(
            Self::batch_key(payout.batch.id.as_str()),
            BatchKind::Payout,
            &payout.producer,
            payout.amount,
            payout.created,
            [
                ("body", s(serde_json::to_string(&payout.batch).map_err(StoreError::backend)?)),
                ("covers", s(serde_json::to_string(&payout.covers).map_err(StoreError::backend)?)),
            ],
        )?;
        let amount = n(payout.amount.get());
        let negative = AttributeValue::N(format!("-{}", payout.amount.get()));
        let producer = payout.producer.as_str();
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.add(
                s(producer),
                "ADD payoutPending :amount, owedOut :minus",
                &[(":amount", amount.clone()), (":minus", negative)],
            )?,
            self.add(s(GRID), "ADD payouts :amount", &[(":amount", amount)])?,
        ];
        for (address, spent) in spent_by_source(&payout.batch) {
            items.push(self.add(Self::wallet_key(&address), "ADD spent :part", &[(":part", n(spent))])?);
        }
        for cover in &payout.covers {
            let mut update = Update::builder()
                .table_name(&self.table)
                .key("id", Self::owed_key(producer, cover.period))
                .update_expression("ADD unpaid :minus")
                .condition_expression("unpaid >= :amount")
                .expression_attribute_values(":minus", AttributeValue::N(format!("-{}", cover.amount.get())));
            update = update.expression_attribute_values(":amount", n(cover.amount.get()));
            items.push(TransactWriteItem::builder().update(update.build().map_err(backend)?).build());
        }
        self.transact(items).await
    }

    async fn resolve_payout(&self, batch: &BatchId, resolution: &PayoutResolution) -> Result<bool, StoreError> {
        let (committed, reasons) = match resolution {
            PayoutResolution::Committed => (true, &[][..]),
            PayoutResolution::Refused { reasons } => (false, &reasons[..]),
        };
        let Some(item) = self.get_item(Self::batch_key(batch.as_str())).await? else { return Ok(false) };
        if opt_s(&item, BATCHES, "pending")? != Some(BatchKind::Payout.as_str()) {
            return Ok(false);
        }
        let payout = payout_record(&item)?;
        let amount = n(payout.amount.get());
        let negative = AttributeValue::N(format!("-{}", payout.amount.get()));
        let producer = payout.producer.as_str();
        let items = if committed {
            vec![
                self.finish_batch(Self::batch_key(batch.as_str()), BatchState::Committed, None)?,
                self.add(
                    s(producer),
                    "ADD payoutPending :minus, paidOut :amount",
                    &[(":minus", negative), (":amount", amount)],
                )?,
            ]
        } else {
            let mut items = vec![
                self.finish_batch(Self::batch_key(batch.as_str()), BatchState::Invalid, Some(&reasons.join("; ")))?,
                self.add(
                    s(producer),
                    "ADD payoutPending :minus, owedOut :amount, refused :one",
                    &[(":minus", negative.clone()), (":amount", amount), (":one", n(1))],
                )?,
                self.add(s(GRID), "ADD payouts :minus", &[(":minus", negative)])?,
            ];
            for (address, spent) in spent_by_source(&payout.batch) {
                let back = AttributeValue::N(format!("-{spent}"));
                items.push(self.add(Self::wallet_key(&address), "ADD spent :back", &[(":back", back)])?);
            }
            for cover in &payout.covers {
                items.push(self.restore(producer, cover)?);
            }
            items
        };
        let resolved = self.transact(items).await?;
        if resolved && committed {
            // Paid off: entitlements at zero leave the table (a refusal of another payout
            // that covered one recreates it), so the payout scan stays small.
            for cover in &payout.covers {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key("id", Self::owed_key(producer, cover.period))
                    .condition_expression("unpaid = :zero")
                    .expression_attribute_values(":zero", n(0))
                    .send()
                    .await;
                written!(result)?;
            }
        }
        Ok(resolved)
    }
}

impl DynamoAccountStore {
    /// Gives covers back to the periods they paid, recreating an entitlement paid off
    /// (and deleted) meanwhile.
    fn restore(&self, producer: &str, cover: &Cover) -> Result<TransactWriteItem, StoreError> {
        self.add(
            Self::owed_key(producer, cover.period),
            "SET unpaid = if_not_exists(unpaid, :zero) + :amount, amount = if_not_exists(amount, :amount), \
             producer = :producer, period = :period, address = if_not_exists(address, :address)",
            &[
                (":zero", n(0)),
                (":amount", n(cover.amount.get())),
                (":producer", s(producer)),
                (":period", n(cover.period.get())),
                (":address", s(cover.address.as_str())),
            ],
        )
    }
}

/// What a batch draws from each of the grid's addresses (one transaction touches an
/// item once, and a source may pay several destinations).
fn spent_by_source(batch: &LedgerBatch) -> Vec<(String, u64)> {
    let mut spent: Vec<(String, u64)> = Vec::new();
    for t in &batch.transfers {
        match spent.iter_mut().find(|(address, _)| address == t.from.as_str()) {
            Some((_, amount)) => *amount += t.amount.get(),
            None => spent.push((t.from.to_string(), t.amount.get())),
        }
    }
    spent
}
