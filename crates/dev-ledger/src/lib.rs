//! A development ledger: what the grid pays and is paid through, on one machine.
//!
//! It speaks the Sawtooth dialect of the ledger API the grid's `Ledger` client uses
//! (DESIGN.md §7): `POST /batches` (JSON `{"id", "transfers": [{"from","to","amount"}]}`,
//! applied at most once per id), `GET /batch_statuses?id=a,b`, and `GET /batches/{id}` to
//! verify a committed batch. Accounts and balances live in SQLite. A batch stays
//! `PENDING` for a configurable delay, then commits if every payer can cover it, else
//! turns `INVALID` ("insufficient funds"). For tests, faults can be injected: answers
//! `UNKNOWN` for known batches, `503` for whole requests, `INVALID` for batches that
//! would commit. `POST /accounts/{address}/deposit` funds an account (a faucet) and
//! `GET /accounts/{address}` shows its balance.

mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use grid_core::ledger::LedgerBatch;
use grid_core::{EpochMs, Iota, PaymentAddress};
use serde::Deserialize;
use serde_json::json;

pub use store::{LedgerStore, StoreError};

/// How the ledger behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LedgerOptions {
    /// How long a batch stays pending before it turns final.
    pub final_after: Duration,
    /// Chance (0–1) that a status query reports `UNKNOWN` for a batch it knows.
    pub unknown_rate: f64,
    /// Chance (0–1) that a request is answered `503 Service Unavailable`.
    pub unavailable_rate: f64,
    /// Chance (0–1) that a batch that would commit turns `INVALID` instead.
    pub invalid_rate: f64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self { final_after: Duration::from_secs(2), unknown_rate: 0.0, unavailable_rate: 0.0, invalid_rate: 0.0 }
    }
}

#[derive(Clone)]
struct Ledger {
    store: LedgerStore,
    options: LedgerOptions,
    dice: Arc<Mutex<u64>>,
}

impl Ledger {
    /// A roll in [0, 1): xorshift over a seed from the OS, good enough for fault injection.
    fn roll(&self) -> f64 {
        let mut state = self.dice.lock().unwrap_or_else(|p| p.into_inner());
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    fn unavailable(&self) -> Option<Response> {
        (self.options.unavailable_rate > 0.0 && self.roll() < self.options.unavailable_rate).then(|| {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "injected fault: unavailable"}))).into_response()
        })
    }
}

/// The ledger's HTTP API over `store`.
pub fn router(store: LedgerStore, options: LedgerOptions) -> Router {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).expect("the operating system provides randomness");
    let ledger = Ledger { store, options, dice: Arc::new(Mutex::new(u64::from_le_bytes(seed) | 1)) };
    Router::new()
        .route("/batches", post(submit))
        .route("/batches/{id}", get(batch))
        .route("/batch_statuses", get(statuses).post(statuses_posted))
        .route("/accounts/{address}", get(account))
        .route("/accounts/{address}/deposit", post(deposit))
        .with_state(ledger)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

fn fault(e: StoreError) -> Response {
    tracing::error!(error = %e, "dev ledger store failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, e)
}

async fn submit(State(ledger): State<Ledger>, body: axum::body::Bytes) -> Response {
    if let Some(down) = ledger.unavailable() {
        return down;
    }
    let batch: LedgerBatch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a batch: {e}")),
    };
    if batch.transfers.is_empty() {
        return error(StatusCode::BAD_REQUEST, "a batch needs at least one transfer");
    }
    let doomed = ledger.options.invalid_rate > 0.0 && ledger.roll() < ledger.options.invalid_rate;
    let final_at = EpochMs::now().get() + ledger.options.final_after.as_millis() as u64;
    match ledger.store.submit(&batch, final_at, doomed).await {
        Ok(true) => {
            (StatusCode::ACCEPTED, Json(json!({"link": format!("/batch_statuses?id={}", batch.id)}))).into_response()
        }
        Ok(false) => error(StatusCode::CONFLICT, format!("batch {} exists with other transfers", batch.id)),
        Err(e) => fault(e),
    }
}

#[derive(Deserialize)]
struct StatusQuery {
    id: String,
}

async fn statuses(State(ledger): State<Ledger>, Query(query): Query<StatusQuery>) -> Response {
    let ids: Vec<&str> = query.id.split(',').filter(|id| !id.is_empty()).collect();
    answer_statuses(&ledger, &ids).await
}

/// Sawtooth takes long id lists as a JSON array in a POST body.
async fn statuses_posted(State(ledger): State<Ledger>, body: axum::body::Bytes) -> Response {
    let Ok(ids) = serde_json::from_slice::<Vec<String>>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected a JSON array of batch ids");
    };
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    answer_statuses(&ledger, &ids).await
}

async fn answer_statuses(ledger: &Ledger, ids: &[&str]) -> Response {
    if let Some(down) = ledger.unavailable() {
        return down;
    }
    let found = match ledger.store.statuses(ids, EpochMs::now().get()).await {
        Ok(found) => found,
        Err(e) => return fault(e),
    };
    let data: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| match found.get(*id) {
            Some(_) if ledger.options.unknown_rate > 0.0 && ledger.roll() < ledger.options.unknown_rate => {
                json!({"id": id, "status": "UNKNOWN", "invalid_transactions": []})
            }
            Some((status, reasons)) => json!({
                "id": id,
                "status": status,
                "invalid_transactions": reasons.iter().map(|r| json!({"id": id, "message": r})).collect::<Vec<_>>(),
            }),
            None => json!({"id": id, "status": "UNKNOWN", "invalid_transactions": []}),
        })
        .collect();
    Json(json!({"data": data, "link": format!("/batch_statuses?id={}", ids.join(","))})).into_response()
}

async fn batch(State(ledger): State<Ledger>, Path(id): Path<String>) -> Response {
    if let Some(down) = ledger.unavailable() {
        return down;
    }
    match ledger.store.batch(&id, EpochMs::now().get()).await {
        Ok(Some((batch, status))) => {
            Json(json!({"id": batch.id, "status": status, "transfers": batch.transfers})).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no batch {id}")),
        Err(e) => fault(e),
    }
}

async fn account(State(ledger): State<Ledger>, Path(address): Path<String>) -> Response {
    let Ok(address) = PaymentAddress::parse(address) else { return error(StatusCode::BAD_REQUEST, "not an address") };
    match ledger.store.balance(&address, EpochMs::now().get()).await {
        Ok(balance) => Json(json!({"address": address, "balance": balance.get()})).into_response(),
        Err(e) => fault(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deposit {
    amount: Iota,
}

async fn deposit(State(ledger): State<Ledger>, Path(address): Path<String>, body: axum::body::Bytes) -> Response {
    let Ok(address) = PaymentAddress::parse(address) else { return error(StatusCode::BAD_REQUEST, "not an address") };
    let Ok(Deposit { amount }) = serde_json::from_slice(&body) else {
        return error(StatusCode::BAD_REQUEST, r#"expected {"amount": <whole IOTA>}"#);
    };
    match ledger.store.deposit(&address, amount).await {
        Ok(balance) => Json(json!({"address": address, "balance": balance.get()})).into_response(),
        Err(e @ StoreError::Overflow(_)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => fault(e),
    }
}
