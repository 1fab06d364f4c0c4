//! The port to the ledger the grid pays through (DESIGN.md §7), and its HTTP client.

use std::time::Duration;

use async_trait::async_trait;
use grid_core::BatchId;
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

/// A ledger: submits batches (each id applied at most once), reports their statuses,
/// and shows a batch's transfers so a claimed payment can be verified.
#[async_trait]
pub trait Ledger: Send + Sync {
    async fn submit(&self, batch: &LedgerBatch) -> Result<(), LedgerError>;

    /// Statuses of `ids` as the ledger answers (it may leave some out or add others).
    async fn statuses(&self, ids: &[BatchId]) -> Result<Vec<(String, BatchStatus)>, LedgerError>;

    /// A batch and its status, if the ledger knows it.
    async fn batch(&self, id: &BatchId) -> Result<Option<(LedgerBatch, BatchStatus)>, LedgerError>;
}

/// A ledger over HTTP: `POST /batches`, `GET /batch_statuses` (either dialect),
/// `GET /batches/{id}`.
#[derive(Clone)]
pub struct HttpLedger {
    base: String,
    dialect: Dialect,
    http: reqwest::Client,
}

impl HttpLedger {
    /// How long one request may take before it counts as unreachable.
    const TIMEOUT: Duration = Duration::from_secs(10);

    pub fn new(base: impl Into<String>, dialect: Dialect) -> Self {
        let http = reqwest::Client::builder().timeout(Self::TIMEOUT).build().expect("an HTTP client builds");
        Self { base: base.into().trim_end_matches('/').to_owned(), dialect, http }
    }

    async fn check(response: reqwest::Response) -> Result<reqwest::Response, LedgerError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.as_u16() == 429 || status.as_u16() == 503 {
            return Err(LedgerError::Busy(status.as_u16()));
        }
        let message = response.text().await.unwrap_or_default().chars().take(300).collect();
        Err(LedgerError::Refused { status: status.as_u16(), message })
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
        let response = self
            .http
            .post(format!("{}/batches", self.base))
            .json(batch)
            .send()
            .await
            .map_err(LedgerError::Unreachable)?;
        Self::check(response).await.map(|_| ())
    }

    async fn statuses(&self, ids: &[BatchId]) -> Result<Vec<(String, BatchStatus)>, LedgerError> {
        let joined = ids.iter().map(BatchId::as_str).collect::<Vec<_>>().join(",");
        let response = self
            .http
            // Batch ids are [A-Za-z0-9._-] only: nothing in them needs escaping.
            .get(format!("{}/batch_statuses?{}={joined}", self.base, self.dialect.query_key()))
            .send()
            .await
            .map_err(LedgerError::Unreachable)?;
        let body = Self::check(response).await?.bytes().await.map_err(LedgerError::Unreachable)?;
        Ok(self.dialect.parse_statuses(&body)?)
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<(LedgerBatch, BatchStatus)>, LedgerError> {
        let response =
            self.http.get(format!("{}/batches/{id}", self.base)).send().await.map_err(LedgerError::Unreachable)?;
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
