//! The development ledger's state in SQLite: balances and batches.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use grid_core::ledger::LedgerBatch;
use grid_core::{AccountKey, Iota, PaymentAddress};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The ledger's store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ledger database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    #[error("the ledger's worker thread failed")]
    Join,
    /// A balance would pass what the ledger holds (2^63 − 1 IOTA); nothing changed.
    #[error("{0}")]
    Overflow(String),
}

/// What claiming an account's key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The account had no key; now it has this one.
    Claimed,
    /// It already had this key.
    Already,
    /// It has another key; nothing changed.
    Taken,
}

/// The most one account may hold: SQLite's integers are signed 64 bits.
const MAX_BALANCE: u64 = i64::MAX as u64;

/// Balances and batches in one SQLite file. One connection serialises every change,
/// which is what a ledger wants.
#[derive(Clone)]
pub struct LedgerStore {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS accounts (
        address TEXT PRIMARY KEY,
        balance INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS account_keys (
        address TEXT PRIMARY KEY,
        key     TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS batches (
        id        TEXT PRIMARY KEY,
        body      TEXT NOT NULL,
        status    TEXT NOT NULL,
        reasons   TEXT NOT NULL DEFAULT '[]',
        seq       INTEGER NOT NULL,
        final_at  INTEGER NOT NULL,
        doomed    INTEGER NOT NULL
    ) STRICT;
";

impl LedgerStore {
    /// Opens (creating) `ledger.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let conn = Connection::open(dir.join("ledger.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|_| StoreError::Join)?
    }

    /// Records a batch; `Ok(false)` if its id exists with different transfers.
    pub async fn submit(&self, batch: &LedgerBatch, final_at: u64, doomed: bool) -> Result<bool, StoreError> {
        let body = serde_json::to_string(&batch.transfers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id = batch.id.to_string();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing: Option<String> =
                tx.query_row("SELECT body FROM batches WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
            if let Some(existing) = existing {
                return Ok(existing == body);
            }
            let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM batches", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO batches (id, body, status, seq, final_at, doomed) VALUES (?1, ?2, 'PENDING', ?3, ?4, ?5)",
                params![id, body, seq, final_at as i64, doomed],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// The statuses of the known ids among `ids`, after finalising what is due.
    pub async fn statuses(&self, ids: &[&str], now: u64) -> Result<HashMap<String, (String, Vec<String>)>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        self.run(move |conn| {
            finalize_due(conn, now)?;
            let mut found = HashMap::new();
            let mut stmt = conn.prepare_cached("SELECT status, reasons FROM batches WHERE id = ?1")?;
            for id in ids {
                let row: Option<(String, String)> = stmt.query_row([&id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
                if let Some((status, reasons)) = row {
                    let reasons: Vec<String> =
                        serde_json::from_str(&reasons).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    found.insert(id, (status, reasons));
                }
            }
            Ok(found)
        })
        .await
    }

    /// A batch and its status, after finalising what is due.
    pub async fn batch(&self, id: &str, now: u64) -> Result<Option<(LedgerBatch, String)>, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            finalize_due(conn, now)?;
            let row: Option<(String, String)> = conn
                .query_row("SELECT body, status FROM batches WHERE id = ?1", [&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(body, status)| {
                let transfers = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let id = grid_core::BatchId::parse(id.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((LedgerBatch { id, transfers }, status))
            })
            .transpose()
        })
        .await
    }

    pub async fn balance(&self, address: &PaymentAddress, now: u64) -> Result<Iota, StoreError> {
        let address = address.to_string();
        self.run(move |conn| {
            finalize_due(conn, now)?;
            Ok(Iota::new(balance(conn, &address)?))
        })
        .await
    }

    /// Gives `address` the key `key`, if it has none yet (the first claim wins).
    pub async fn claim(&self, address: &PaymentAddress, key: &AccountKey) -> Result<Claim, StoreError> {
        let (address, key) = (address.to_string(), key.clone());
        self.run(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO account_keys (address, key) VALUES (?1, ?2) ON CONFLICT (address) DO NOTHING",
                params![address, key.expose()],
            )?;
            if inserted == 1 {
                return Ok(Claim::Claimed);
            }
            let held: String =
                conn.query_row("SELECT key FROM account_keys WHERE address = ?1", [&address], |r| r.get(0))?;
            Ok(if key.matches(&held) { Claim::Already } else { Claim::Taken })
        })
        .await
    }

    /// The key of each of `addresses` that has one.
    pub async fn keys(&self, addresses: &[&PaymentAddress]) -> Result<HashMap<String, AccountKey>, StoreError> {
        let addresses: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT key FROM account_keys WHERE address = ?1")?;
            let mut keys = HashMap::new();
            for address in addresses {
                if let Some(key) = stmt.query_row([&address], |r| r.get::<_, String>(0)).optional()? {
                    let key = AccountKey::parse(key).map_err(|e| StoreError::Corrupt(format!("{address}: {e}")))?;
                    keys.insert(address, key);
                }
            }
            Ok(keys)
        })
        .await
    }

    /// Adds `amount` to an account (the development faucet), unless every balance
    /// together would then pass `supply` (nothing changes then).
    pub async fn deposit(&self, address: &PaymentAddress, amount: Iota, supply: Iota) -> Result<Iota, StoreError> {
        let address = address.to_string();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held: i64 = tx.query_row("SELECT coalesce(sum(balance), 0) FROM accounts", [], |r| r.get(0))?;
            if (held as u64).checked_add(amount.get()).is_none_or(|total| total > supply.get()) {
                return Err(StoreError::Overflow(format!(
                    "a deposit of {} IOTA would take the ledger past the supply of {} IOTA",
                    amount.get(),
                    supply.get()
                )));
            }
            let total = credited(balance(&tx, &address)?, amount.get())
                .ok_or_else(|| StoreError::Overflow(format!("{address} cannot hold {} IOTA more", amount.get())))?;
            set_balance(&tx, &address, total)?;
            tx.commit()?;
            Ok(Iota::new(total))
        })
        .await
    }
}

/// `balance + amount`, if an account can hold it.
fn credited(balance: u64, amount: u64) -> Option<u64> {
    balance.checked_add(amount).filter(|total| *total <= MAX_BALANCE)
}

fn balance(conn: &Connection, address: &str) -> Result<u64, StoreError> {
    let balance: Option<i64> =
        conn.query_row("SELECT balance FROM accounts WHERE address = ?1", [address], |r| r.get(0)).optional()?;
    u64::try_from(balance.unwrap_or(0)).map_err(|_| StoreError::Corrupt(format!("{address} has a negative balance")))
}

fn set_balance(conn: &Connection, address: &str, balance: u64) -> Result<(), StoreError> {
    let balance = i64::try_from(balance).map_err(|_| StoreError::Overflow(format!("{address}: {balance} IOTA")))?;
    conn.execute(
        "INSERT INTO accounts (address, balance) VALUES (?1, ?2)
         ON CONFLICT (address) DO UPDATE SET balance = excluded.balance",
        params![address, balance],
    )?;
    Ok(())
}

/// Moves a batch's money, all or nothing: `Err(reasons)` (and no balance changed) if a
/// payer cannot cover its part or a payee's balance would overflow. Checked arithmetic
/// throughout: the ledger never wraps.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    transfers: &[grid_core::ledger::Transfer],
) -> Result<Result<(), Vec<String>>, StoreError> {
    let mut balances: HashMap<String, u64> = HashMap::new();
    let mut reasons = Vec::new();
    for t in transfers {
        let (from, to, amount) = (t.from.as_str(), t.to.as_str(), t.amount.get());
        let current = |balances: &HashMap<String, u64>, address: &str| match balances.get(address) {
            Some(balance) => Ok(*balance),
            None => balance(tx, address),
        };
        let Some(left) = current(&balances, from)?.checked_sub(amount) else {
            reasons.push(format!("insufficient funds: {from} cannot pay {amount}"));
            continue;
        };
        balances.insert(from.to_owned(), left);
        match credited(current(&balances, to)?, amount) {
            Some(total) => {
                balances.insert(to.to_owned(), total);
            }
            None => reasons.push(format!("overflow: {to} cannot hold {amount} IOTA more")),
        }
    }
    if !reasons.is_empty() {
        return Ok(Err(reasons));
    }
    for (address, balance) in &balances {
        set_balance(tx, address, *balance)?;
    }
    Ok(Ok(()))
}

/// Turns every due pending batch final, in submission order: committed (balances
/// moved) if each payer can cover its part and every payee can hold it, else invalid.
fn finalize_due(conn: &mut Connection, now: u64) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let due: Vec<(String, String, bool)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, body, doomed FROM batches WHERE status = 'PENDING' AND final_at <= ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([now as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, body, doomed) in due {
        let transfers: Vec<grid_core::ledger::Transfer> =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (status, reasons) = if doomed {
            ("INVALID", vec!["injected fault: invalid".to_owned()])
        } else {
            match apply(&tx, &transfers)? {
                Ok(()) => ("COMMITTED", Vec::new()),
                Err(reasons) => ("INVALID", reasons),
            }
        };
        let reasons = serde_json::to_string(&reasons).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute("UPDATE batches SET status = ?2, reasons = ?3 WHERE id = ?1", params![id, status, reasons])?;
    }
    tx.commit()?;
    Ok(())
}
