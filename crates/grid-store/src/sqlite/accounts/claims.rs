//! Consumers' payment claims: recorded against the pending amount, settled once.

use super::*;
use crate::ClaimBook;

#[async_trait]
impl ClaimBook for SqliteAccountStore {
    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError> {
        let (batch, id) = (claim_key(claim), claim.registration.as_str().to_owned());
        let (amount, index, at) = (claim.amount.get(), claim.channel_index, claim.claimed.get());
        self.db
            .write(move |conn| {
                let recorded = conn
                    .prepare_cached(
                        "INSERT INTO batches (id, kind, registration_id, amount, channel_index, created_ms, status)
                         VALUES (:batch, 'claim', :id, :amount, :index, :at, 'pending') ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(
                        named_params! {":batch": batch, ":id": id, ":amount": amount, ":index": index, ":at": at},
                    )?;
                if recorded == 0 {
                    return Ok(false);
                }
                conn.prepare_cached(
                    "INSERT INTO accounts (id, pending) VALUES (:id, :amount)
                     ON CONFLICT (id) DO UPDATE SET pending = pending + excluded.pending",
                )?
                .execute(named_params! {":id": id, ":amount": amount})?;
                Ok(true)
            })
            .await
    }

    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError> {
        let (batch, resolution) = (claim_key(claim), resolution.clone());
        self.db
            .write(move |conn| {
                let claim: Option<(String, u64)> = conn
                    .query_row(
                        "SELECT registration_id, amount FROM batches WHERE id = ?1 AND kind = 'claim' AND status = 'pending'",
                        [&batch],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                let Some((consumer, claimed)) = claim else { return Ok(false) };
                let credited = resolution.credited().get();
                conn.execute(
                    "UPDATE accounts SET pending = pending - :claimed, paid = paid + :credited WHERE id = :id",
                    named_params! {":claimed": claimed, ":credited": credited, ":id": consumer},
                )?;
                let (status, reason) = match &resolution {
                    ClaimResolution::Verified { credits } => {
                        conn.execute("UPDATE grid_totals SET paid_in = paid_in + ?1 WHERE id = 0", [credited])?;
                        for credit in credits {
                            add_to_wallet(
                                conn,
                                credit.address.as_str(),
                                Some(credit.seq),
                                "received",
                                i128::from(credit.amount.get()),
                            )?;
                        }
                        (BatchState::Verified, None)
                    }
                    ClaimResolution::Rejected { reason } => (BatchState::Rejected, Some(reason.clone())),
                };
                conn.execute(
                    "UPDATE batches SET status = ?2, reason = ?3 WHERE id = ?1",
                    rusqlite::params![batch, status.as_str(), reason],
                )?;
                Ok(true)
            })
            .await
    }
}
