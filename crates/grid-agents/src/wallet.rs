//! An agent's account on the ledger: pay from it, watch its balance. Balances, the
//! faucet and claiming an account's key are the development ledger's (`gridctl ledger`,
//! `/ledger` in `serve`); paying is the ledger API every dialect shares (`POST
//! /batches`), with the account's key.

use grid_client::ledger::{HttpLedger, Ledger};
use grid_core::ledger::{BatchStatus, Dialect, LedgerBatch, Transfer};
use grid_core::{AccountKey, BatchId, Iota, PaymentAddress, SideKey};
use serde::Deserialize;
use serde_json::json;

use crate::AgentError;

/// The ledger account `account` at the ledger `base`; once claimed, one that pays.
#[derive(Clone)]
pub struct Wallet {
    base: String,
    account: PaymentAddress,
    ledger: HttpLedger,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Balance {
    balance: u64,
}

impl Wallet {
    pub fn new(base: impl Into<String>, account: PaymentAddress, http: reqwest::Client) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        Self { ledger: HttpLedger::new(&base, Dialect::Sawtooth).with_client(http.clone()), base, account, http }
    }

    /// Claims the account with `key`, proving with `side_key` (a key of the registration
    /// the account is named after: the development ledger beside a grid asks for it; the
    /// same key again is fine); from then on this wallet pays with it. Fails if the
    /// ledger is busy ([`AgentError::Unreachable`] or a 5xx) or refuses the claim (a 4xx:
    /// another key holds the account, or the proof is wrong).
    pub async fn claim(&mut self, key: AccountKey, side_key: &SideKey) -> Result<(), AgentError> {
        let url = format!("{}/accounts/{}/key", self.base, self.account);
        let request = self.http.put(&url).header("x-side-key", side_key.expose()).json(&json!({"key": key.expose()}));
        Self::send(request, url).await?;
        self.ledger = self.ledger.clone().with_key(Some(key));
        Ok(())
    }

    /// The account.
    pub fn account(&self) -> &PaymentAddress {
        &self.account
    }

    /// Pays `amount` to `to` in the batch `id`. The same id sent again is applied once,
    /// so a retry after a crash never pays twice.
    pub async fn pay(&self, id: BatchId, to: &PaymentAddress, amount: Iota) -> Result<(), AgentError> {
        let batch =
            LedgerBatch { id, transfers: vec![Transfer { from: self.account.clone(), to: to.clone(), amount }] };
        Ok(self.ledger.submit(&batch).await?)
    }

    /// Whether batch `id` is final on the ledger (committed or refused), and the
    /// account's balance then; `None` while it is pending, so a balance shown after a
    /// payment is never the one from before it.
    pub async fn after(&self, id: &BatchId) -> Result<Option<(BatchStatus, Iota)>, AgentError> {
        let answer = self.ledger.statuses(std::slice::from_ref(id)).await?;
        let status = answer.into_iter().find(|(answered, _)| answered == id.as_str()).map(|(_, status)| status);
        match status {
            Some(status) if status.is_final() => Ok(Some((status, self.balance().await?))),
            _ => Ok(None),
        }
    }

    /// The account's balance (development ledger).
    pub async fn balance(&self) -> Result<Iota, AgentError> {
        let url = format!("{}/accounts/{}", self.base, self.account);
        Self::read_balance(Self::send(self.http.get(&url), url.clone()).await?, url).await
    }

    /// Adds `amount` to the account (the development ledger's faucet).
    pub async fn deposit(&self, amount: Iota) -> Result<Iota, AgentError> {
        let url = format!("{}/accounts/{}/deposit", self.base, self.account);
        let request = self.http.post(&url).json(&json!({"amount": amount.get()}));
        Self::read_balance(Self::send(request, url.clone()).await?, url).await
    }

    /// Sends `request` to `url`; anything but a success is the ledger refusing.
    async fn send(request: reqwest::RequestBuilder, url: String) -> Result<reqwest::Response, AgentError> {
        let response = request.send().await.map_err(|source| AgentError::Unreachable { url: url.clone(), source })?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let message = response.text().await.unwrap_or_default().chars().take(200).collect();
            return Err(AgentError::Refused { url, status, message });
        }
        Ok(response)
    }

    async fn read_balance(response: reqwest::Response, url: String) -> Result<Iota, AgentError> {
        let balance: Balance =
            response.json().await.map_err(|e| AgentError::Unreadable { url, reason: e.to_string() })?;
        Ok(Iota::new(balance.balance))
    }
}
