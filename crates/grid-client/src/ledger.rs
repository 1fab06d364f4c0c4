//! The port to the ledger the grid pays through (DESIGN.md §7), and its HTTP client.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use grid_core::{AccountKey, BatchId};

use grid_core::ledger::{BatchStatus, Dialect, LedgerBatch, StatusParseError};
use serde::Deserialize;

/// Talking to the ledger failed; nothing was decided, so the caller retries later.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the ledger is busy or unavailable ({0}); retry later")]
    Busy(u16),
    #[error("the ledger refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error(transparent)]
    Statuses(#[from] StatusParseError),
    #[error("the ledger answered something unreadable: {0}")]
    Protocol(String),
}

/// A ledger's answer to a status request: (id as the ledger spelled it, status) pairs.
pub type StatusAnswer = Vec<(String, BatchStatus)>;

/// A ledger: submits batches (each id applied at most once), reports their statuses,
/// and shows a batch's transfers so a claimed payment can be verified.
#[async_trait]
pub trait Ledger: Send + Sync {
    async fn submit(&self, batch: &LedgerBatch) -> Result<(), LedgerError>;

    /// Statuses of `ids` as the ledger answers (it may leave some out or add others).
    async fn statuses(&self, ids: &[BatchId]) -> Result<StatusAnswer, LedgerError>;

    /// A batch and its status, if the ledger knows it.
    async fn batch(&self, id: &BatchId) -> Result<Option<(LedgerBatch, BatchStatus)>, LedgerError>;
}

/// A ledger over HTTP: `POST /batches`, `/batch_statuses` (either dialect),
/// `GET /batches/{id}`.
///
/// For Splinter, the base URL names the scabbard service:
/// `https://node/scabbard/{circuit}/{service}`. Sawtooth lists of ids too long for a URL
/// are asked with `POST /batch_statuses` and a JSON array. Error bodies of both dialects
/// (`{"error":{"code","title","message"}}`, `{"code","message"}`) become the message of
/// the error; 408, 429 and 503 mean "busy, retry later".
#[derive(Clone)]
pub struct HttpLedger {
    base: String,
    dialect: Dialect,
    timeout: Duration,
    /// The key of the accounts its batches spend from, sent as `X-Account-Key`.
    key: Option<AccountKey>,
    /// Built on the first request: building it reads the platform's root certificates,
    /// which a batch monitor with nothing pending should not pay for at its cold start.
    http: Arc<OnceLock<reqwest::Client>>,
}

impl HttpLedger {
    /// How long one request may take before it counts as unreachable.
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// Longer id lists go in a POST body (Sawtooth).
    const MAX_QUERY_LEN: usize = 1500;

    pub fn new(base: impl Into<String>, dialect: Dialect) -> Self {
        Self::with_timeout(base, dialect, Self::TIMEOUT)
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(base: impl Into<String>, dialect: Dialect, timeout: Duration) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        Self { base, dialect, timeout, key: None, http: Arc::default() }
    }

    /// Sends `key` with every batch, for the accounts the batches spend from.
    pub fn with_key(self, key: Option<AccountKey>) -> Self {
        Self { key, ..self }
    }

    /// Speaks through `http` (a device's client, from its own address) rather than a
    /// client of its own; each request keeps the ledger's timeout.
    pub fn with_client(self, http: reqwest::Client) -> Self {
        Self { http: Arc::new(OnceLock::from(http)), ..self }
    }

    /// A request to `url`, with the ledger's timeout.
    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        self.http.get_or_init(reqwest::Client::new).request(method, url).timeout(self.timeout)
    }

    async fn check(response: reqwest::Response) -> Result<reqwest::Response, LedgerError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if matches!(status.as_u16(), 408 | 429 | 503) {
            return Err(LedgerError::Busy(status.as_u16()));
        }
        let body = response.text().await.unwrap_or_default();
        Err(LedgerError::Refused { status: status.as_u16(), message: error_message(&body) })
    }
}

/// The message of an error body in either dialect, or the start of the body.
fn error_message(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    let message = value["error"]["message"].as_str().or_else(|| value["message"].as_str());
    match message {
        Some(message) => message.chars().take(300).collect(),
        None => body.chars().take(300).collect(),
    }
}

#[derive(Deserialize)]
struct BatchAnswer {
    id: BatchId,
    status: String,
    transfers: Vec<grid_core::ledger::Transfer>,
}

#[async_trait]
impl Ledger for HttpLedger {
    async fn submit(&self, batch: &LedgerBatch) -> Result<(), LedgerError> {
        let mut request = self.request(reqwest::Method::POST, format!("{}/batches", self.base)).json(batch);
        if let Some(key) = &self.key {
            request = request.header(AccountKey::HEADER, key.expose());
        }
        let response = request.send().await.map_err(LedgerError::Unreachable)?;
        Self::check(response).await.map(|_| ())
    }

    async fn statuses(&self, ids: &[BatchId]) -> Result<StatusAnswer, LedgerError> {
        let joined = ids.iter().map(BatchId::as_str).collect::<Vec<_>>().join(",");
        let url = format!("{}/batch_statuses", self.base);
        let request = if self.dialect == Dialect::Sawtooth && joined.len() > Self::MAX_QUERY_LEN {
            self.request(reqwest::Method::POST, url).json(&ids)
        } else {
            // Batch ids are [A-Za-z0-9._-] only: nothing in them needs escaping.
            self.request(reqwest::Method::GET, format!("{url}?{}={joined}", self.dialect.query_key()))
        };
        let response = request.send().await.map_err(LedgerError::Unreachable)?;
        let body = Self::check(response).await?.bytes().await.map_err(LedgerError::Unreachable)?;
        Ok(self.dialect.parse_statuses(&body)?)
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<(LedgerBatch, BatchStatus)>, LedgerError> {
        let response = self
            .request(reqwest::Method::GET, format!("{}/batches/{id}", self.base))
            .send()
            .await
            .map_err(LedgerError::Unreachable)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let answer: BatchAnswer =
            Self::check(response).await?.json().await.map_err(|e| LedgerError::Protocol(e.to_string()))?;
        let status = match answer.status.as_str() {
            "COMMITTED" => BatchStatus::Committed,
            "INVALID" => BatchStatus::Invalid(Vec::new()),
            "PENDING" => BatchStatus::Pending,
            _ => BatchStatus::Unknown,
        };
        Ok(Some((LedgerBatch { id: answer.id, transfers: answer.transfers }, status)))
    }
}
