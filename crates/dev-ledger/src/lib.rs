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
//!
//! Money leaves an account only with its key: every payer of a batch must be owned by
//! the `X-Account-Key` the batch is posted with. An account gets its key once
//! (`PUT /accounts/{address}/key`, `{"key": …}`); a device derives its key from its seed
//! and claims its account when it starts. Beside a grid (`serve --dev-ledger`, the demo)
//! a claim needs proof ([`AccountOwners`]): an account is named after a registration
//! (`consumer-0001`) or its payouts (`wallet-producer-0001`), and only that
//! registration's side key (`X-Side-Key`) claims it; on its own (`gridctl ledger`) the
//! first claim wins. The grid's wallet and every `{wallet}-…` address are the grid's
//! from the start ([`GridAccounts`]) and cannot be claimed. Deposits keep every balance
//! together within the IOTA supply, a batch holds at most [`MAX_TRANSFERS`] transfers,
//! and every body is JSON, sent as `application/json`: a form post from a web page is
//! refused (415).
//!
//! # Layout
//!
//! - this file: the HTTP API ([`router`], [`router_with_owners`]), its options
//!   ([`LedgerOptions`]: delays, injected faults, the grid's accounts) and the proof a
//!   claim needs ([`AccountOwners`]);
//! - `store`: accounts, keys, balances and batches in SQLite ([`LedgerStore`]), each
//!   batch applied at most once.

mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use grid_core::ledger::LedgerBatch;
use grid_core::{AccountKey, EpochMs, Iota, PaymentAddress};
use serde::Deserialize;
use serde_json::json;

pub use store::{Claim, LedgerStore, StoreError};

/// The most transfers one batch may hold.
pub const MAX_TRANSFERS: usize = 1_000;

/// What a side key says about who may claim an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// It is a key of the registration the account is named after.
    Proven,
    /// That registration exists; this is not one of its keys.
    Wrong,
    /// No registration has an account of this name.
    NoOwner,
}

/// Who owns the accounts: the grid's registrations, when a grid serves this ledger.
#[async_trait::async_trait]
pub trait AccountOwners: Send + Sync {
    /// Whether `side_key` proves the registration whose account `address` is.
    async fn proves(&self, address: &PaymentAddress, side_key: &str) -> Result<Proof, String>;
}

/// The grid's own accounts: its wallet and every address that starts with the wallet
/// and a dash (the per-period payment addresses), spent with the grid's key.
#[derive(Debug, Clone, PartialEq)]
pub struct GridAccounts {
    pub wallet: PaymentAddress,
    pub key: AccountKey,
}

impl GridAccounts {
    fn owns(&self, address: &PaymentAddress) -> bool {
        let (address, wallet) = (address.as_str(), self.wallet.as_str());
        address == wallet || address.strip_prefix(wallet).is_some_and(|rest| rest.starts_with('-'))
    }
}

/// How the ledger behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerOptions {
    /// The grid's accounts, if a grid pays through this ledger.
    pub grid: Option<GridAccounts>,
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
        Self {
            grid: None,
            final_after: Duration::from_secs(2),
            unknown_rate: 0.0,
            unavailable_rate: 0.0,
            invalid_rate: 0.0,
        }
    }
}

#[derive(Clone)]
struct Ledger {
    store: LedgerStore,
    options: LedgerOptions,
    dice: Arc<Mutex<u64>>,
    owners: Option<Arc<dyn AccountOwners>>,
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

/// The ledger's HTTP API over `store`, on its own: the first claim of an account wins.
pub fn router(store: LedgerStore, options: LedgerOptions) -> Router {
    router_with_owners(store, options, None)
}

/// The ledger's HTTP API over `store`; with `owners`, a claim needs the side key of the
/// registration the account belongs to.
pub fn router_with_owners(
    store: LedgerStore,
    options: LedgerOptions,
    owners: Option<Arc<dyn AccountOwners>>,
) -> Router {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).expect("the operating system provides randomness");
    let ledger = Ledger { store, options, dice: Arc::new(Mutex::new(u64::from_le_bytes(seed) | 1)), owners };
    Router::new()
        .route("/batches", post(submit))
        .route("/batches/{id}", get(batch))
        .route("/batch_statuses", get(statuses).post(statuses_posted))
        .route("/accounts/{address}", get(account))
        .route("/accounts/{address}/deposit", post(deposit))
        .route("/accounts/{address}/key", put(claim))
        .with_state(ledger)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

fn fault(e: StoreError) -> Response {
    tracing::error!(error = %e, "dev ledger store failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, e)
}

/// Refuses a body not sent as JSON: a web page can post a form anywhere, but not JSON.
fn json_only(headers: &HeaderMap) -> Option<Response> {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json = media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    (!json).then(|| error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be JSON (application/json)"))
}

/// The refusal, unless `headers` carry the key of every payer of `batch`.
async fn unauthorised(ledger: &Ledger, headers: &HeaderMap, batch: &LedgerBatch) -> Option<Response> {
    let Some(presented) = headers.get(AccountKey::HEADER).and_then(|v| v.to_str().ok()) else {
        return Some(error(StatusCode::UNAUTHORIZED, "a transfer out of an account needs its key (X-Account-Key)"));
    };
    let mut payers: Vec<&PaymentAddress> = batch.transfers.iter().map(|t| &t.from).collect();
    payers.sort_unstable();
    payers.dedup();
    let grid = ledger.options.grid.as_ref();
    let claimed = match ledger.store.keys(&payers).await {
        Ok(claimed) => claimed,
        Err(e) => return Some(fault(e)),
    };
    for payer in payers {
        let key = match grid.filter(|grid| grid.owns(payer)) {
            Some(grid) => Some(&grid.key),
            None => claimed.get(payer.as_str()),
        };
        if !key.is_some_and(|key| key.matches(presented)) {
            return Some(error(StatusCode::FORBIDDEN, format!("the key does not open {payer}")));
        }
    }
    None
}

async fn submit(State(ledger): State<Ledger>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(down) = ledger.unavailable() {
        return down;
    }
    if let Some(refused) = json_only(&headers) {
        return refused;
    }
    let batch: LedgerBatch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a batch: {e}")),
    };
    if batch.transfers.is_empty() {
        return error(StatusCode::BAD_REQUEST, "a batch needs at least one transfer");
    }
    if batch.transfers.len() > MAX_TRANSFERS {
        return error(StatusCode::BAD_REQUEST, format!("a batch holds at most {MAX_TRANSFERS} transfers"));
    }
    if let Some(refused) = unauthorised(&ledger, &headers, &batch).await {
        return refused;
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
async fn statuses_posted(State(ledger): State<Ledger>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(refused) = json_only(&headers) {
        return refused;
    }
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

/// What a request on one account carries: a JSON body of shape `expected`, for a valid
/// address; or the refusal (boxed: a response is large beside what it refuses).
fn account_request<T: serde::de::DeserializeOwned>(
    address: String,
    headers: &HeaderMap,
    body: &[u8],
    expected: &str,
) -> Result<(PaymentAddress, T), Box<Response>> {
    if let Some(refused) = json_only(headers) {
        return Err(Box::new(refused));
    }
    let Ok(address) = PaymentAddress::parse(address) else {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, "not an address")));
    };
    let parsed = serde_json::from_slice(body)
        .map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, format!("expected {expected}"))))?;
    Ok((address, parsed))
}

async fn deposit(
    State(ledger): State<Ledger>,
    Path(address): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (address, Deposit { amount }) = match account_request(address, &headers, &body, r#"{"amount": <whole IOTA>}"#) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    match ledger.store.deposit(&address, amount, Iota::new(Iota::SUPPLY)).await {
        Ok(balance) => Json(json!({"address": address, "balance": balance.get()})).into_response(),
        Err(e @ StoreError::Overflow(_)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => fault(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyClaim {
    key: String,
}

/// Gives an account its key, once: beside a grid, to the holder of its registration's side
/// key; on its own, to the first claim. The same key again is fine.
async fn claim(
    State(ledger): State<Ledger>,
    Path(address): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (address, KeyClaim { key }) =
        match account_request(address, &headers, &body, r#"{"key": <16 to 128 letters and digits>}"#) {
            Ok(request) => request,
            Err(refused) => return *refused,
        };
    let key = match AccountKey::parse(key) {
        Ok(key) => key,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if ledger.options.grid.as_ref().is_some_and(|grid| grid.owns(&address)) {
        return error(StatusCode::FORBIDDEN, format!("{address} is the grid's"));
    }
    if let Some(owners) = &ledger.owners {
        let presented = headers.get("x-side-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match owners.proves(&address, presented).await {
            Ok(Proof::Proven) => {}
            Ok(Proof::Wrong) => {
                return error(
                    StatusCode::FORBIDDEN,
                    format!("X-Side-Key is not a key of the registration {address} is named after"),
                );
            }
            Ok(Proof::NoOwner) => {
                return error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "no registration owns {address}: an account is a registration's id, or wallet-<id> for its payouts"
                    ),
                );
            }
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
        }
    }
    match ledger.store.claim(&address, &key).await {
        Ok(Claim::Claimed) => (StatusCode::CREATED, Json(json!({"address": address}))).into_response(),
        Ok(Claim::Already) => Json(json!({"address": address})).into_response(),
        Ok(Claim::Taken) => error(StatusCode::CONFLICT, format!("{address} has another key")),
        Err(e) => fault(e),
    }
}
