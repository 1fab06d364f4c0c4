//! The books (`AccountStore`) over the `accounts`, `grid_totals`, `wallet` and `batches` tables:
//! every multi-row change in one immediate transaction.
//!
//! # Layout
//!
//! One struct serves every concern of the port, so a write that spans several stays one
//! atomic operation; each concern is implemented in its own file, on the helpers here:
//! `book.rs` ([`AccountBook`](crate::AccountBook)), `claims.rs` ([`ClaimBook`](crate::ClaimBook)),
//! `payouts.rs` ([`PayoutBook`](crate::PayoutBook)), `batches.rs` ([`BatchWatch`](crate::BatchWatch)).

mod batches;
mod book;
mod claims;
mod payouts;

use std::collections::HashMap;

use async_trait::async_trait;
use grid_core::books::{
    Account, AccountEntry, BatchKind, BatchState, ClaimResolution, Cover, Entitlement, GridEntry, GridTotals,
    PaymentClaim, PayoutRecord, PayoutResolution, StatementLine, StatementRange,
};
use grid_core::ledger::LedgerBatch;
use grid_core::market::PeriodStart;
use grid_core::{BatchId, EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, Wh};
use rusqlite::{Connection, OptionalExtension, named_params};

use super::SqliteDb;
use crate::{BatchCounts, BatchView, Funds, PendingBatches, StoreError, Unpaid, Watched, WatchedBatch};

/// The books in the embedded SQLite database. Every number goes in and comes out as a
/// `u64` through rusqlite's checked conversions ([`StoreError::OutOfRange`] beyond
/// `i64::MAX`), never clamped.
#[derive(Clone)]
pub struct SqliteAccountStore {
    db: SqliteDb,
}

impl SqliteAccountStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// A claim's row: one per consumer and batch (`/` is in neither).
fn claim_key(claim: &PaymentClaim) -> String {
    format!("{}/{}", claim.registration, claim.batch_id)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn period(ms: u64) -> Result<PeriodStart, StoreError> {
    PeriodStart::parse(ms).map_err(|e| corrupt("period", e))
}

fn time(ms: u64) -> Result<EpochMs, StoreError> {
    i64::try_from(ms).ok().and_then(|ms| EpochMs::parse(ms).ok()).ok_or_else(|| corrupt("time", ms))
}

/// Adds to the money at one of the grid's addresses: `received`, or `spent` (negative
/// `amount`s give back).
fn add_to_wallet(
    conn: &Connection,
    address: &str,
    seq: Option<u64>,
    column: &str,
    amount: i128,
) -> Result<(), StoreError> {
    let amount = i64::try_from(amount).map_err(|_| StoreError::OutOfRange(format!("{amount} IOTA")))?;
    conn.execute(
        &format!(
            "INSERT INTO wallet (address, seq, {column}) VALUES (:address, :seq, :amount)
             ON CONFLICT (address) DO UPDATE SET {column} = {column} + excluded.{column}"
        ),
        named_params! {":address": address, ":seq": seq.unwrap_or(i64::MAX as u64), ":amount": amount},
    )?;
    Ok(())
}
