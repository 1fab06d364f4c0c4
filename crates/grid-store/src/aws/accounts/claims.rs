//! Consumers' payment claims: recorded against the pending amount, settled once.

use super::*;
use crate::ClaimBook;

#[async_trait]
impl ClaimBook for DynamoAccountStore {
    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError> {
        let put = self.new_batch(
            Self::claim_key(claim),
            BatchKind::Claim,
            &claim.registration,
            claim.amount,
            claim.claimed,
            [("batch", s(claim.batch_id.as_str())), ("channelIndex", n(claim.channel_index))],
        )?;
        let pending =
            self.add(s(claim.registration.as_str()), "ADD pending :amount", &[(":amount", n(claim.amount.get()))])?;
        self.transact(vec![TransactWriteItem::builder().put(put).build(), pending]).await
    }

    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError> {
        let key = Self::claim_key(claim);
        let Some(item) = self.get_item(key.clone()).await? else { return Ok(false) };
        if opt_s(&item, BATCHES, "pending")? != Some(BatchKind::Claim.as_str()) {
            return Ok(false);
        }
        let consumer = get_s(&item, BATCHES, "registration")?;
        let claimed = get_n(&item, BATCHES, "amount")?;
        let released = AttributeValue::N(format!("-{claimed}"));
        let items = match resolution {
            ClaimResolution::Verified { credits } => {
                let credited = n(resolution.credited().get());
                let mut items = vec![
                    self.finish_batch(key, BatchState::Verified, None)?,
                    self.add(
                        s(consumer),
                        "ADD pending :minus, paid :credited",
                        &[(":minus", released), (":credited", credited.clone())],
                    )?,
                    self.add(s(GRID), "ADD paidIn :credited", &[(":credited", credited)])?,
                ];
                for credit in credits {
                    items.push(self.add(
                        Self::wallet_key(credit.address.as_str()),
                        "ADD received :amount SET seq = if_not_exists(seq, :seq), address = :address",
                        &[
                            (":amount", n(credit.amount.get())),
                            (":seq", n(credit.seq)),
                            (":address", s(credit.address.as_str())),
                        ],
                    )?);
                }
                items
            }
            ClaimResolution::Rejected { reason } => vec![
                self.finish_batch(key, BatchState::Rejected, Some(reason))?,
                self.add(s(consumer), "ADD pending :minus", &[(":minus", released)])?,
            ],
        };
        self.transact(items).await
    }
}
