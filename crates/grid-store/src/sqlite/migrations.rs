//! Schema migrations, applied in order when the database opens.
//!
//! `PRAGMA user_version` records how many migrations a file has seen. Migrations are
//! append-only: a released one is never edited, a change is a new entry.

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: registrations (soft-deleted, versioned) and storage items.
    r#"
    CREATE TABLE registrations (
        id               TEXT    PRIMARY KEY,
        item_name        TEXT,
        item_type        TEXT    NOT NULL CHECK (item_type IN ('producer', 'consumer')),
        created_ms       INTEGER NOT NULL,
        updated_ms       INTEGER NOT NULL,
        removed_ms       INTEGER,
        channel_root     TEXT,
        channel_side_key TEXT,
        version          INTEGER NOT NULL,
        CHECK ((channel_root IS NULL) = (channel_side_key IS NULL))
    ) STRICT;

    CREATE TABLE items (
        registration_id TEXT NOT NULL,
        context         TEXT NOT NULL,
        id              TEXT NOT NULL,
        body            TEXT NOT NULL,
        PRIMARY KEY (registration_id, context, id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 2: the channel node's envelopes, and each consumer's return channel.
    r#"
    CREATE TABLE channel_messages (
        address     TEXT    PRIMARY KEY,
        envelope    TEXT    NOT NULL,
        attached_ms INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;

    ALTER TABLE registrations ADD COLUMN return_seed       TEXT;
    ALTER TABLE registrations ADD COLUMN return_side_key   TEXT;
    ALTER TABLE registrations ADD COLUMN return_next_index INTEGER;
    "#,
    // 3: work queues (poll-work, completions) with SQS's visibility semantics.
    r#"
    CREATE TABLE queue_messages (
        queue         TEXT    NOT NULL,
        id            TEXT    NOT NULL,
        body          TEXT    NOT NULL,
        enqueued_ms   INTEGER NOT NULL,
        visible_at_ms INTEGER NOT NULL,
        receive_count INTEGER NOT NULL,
        receipt       TEXT,
        PRIMARY KEY (queue, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at_ms);
    CREATE INDEX queue_messages_receipt ON queue_messages (queue, receipt);
    "#,
    // 4: the money engine: channel cursors, readings, settlements, accounts, rejections.
    r#"
    ALTER TABLE registrations ADD COLUMN cursor_next_index INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE registrations ADD COLUMN cursor_closed     INTEGER NOT NULL DEFAULT 0;

    -- One row per reading, keyed by what makes it unique; `counted_in` is the period it
    -- settles in (its own, or the earliest open one when it arrived late).
    CREATE TABLE readings (
        registration_id TEXT    NOT NULL,
        kind            TEXT    NOT NULL CHECK (kind IN ('output', 'usage')),
        start_ms        INTEGER NOT NULL,
        end_ms          INTEGER NOT NULL,
        wh              INTEGER NOT NULL,
        price           INTEGER,
        payment_address TEXT,
        channel_index   INTEGER NOT NULL,
        period          INTEGER NOT NULL,
        counted_in      INTEGER NOT NULL,
        PRIMARY KEY (registration_id, kind, start_ms)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX readings_counted_in ON readings (counted_in, registration_id, kind, start_ms);

    -- Settled periods, and (id 0) the head: the last settled period and the one closing.
    CREATE TABLE settlements (
        period INTEGER PRIMARY KEY,
        record TEXT    NOT NULL
    ) STRICT;
    CREATE TABLE settlement_head (
        id      INTEGER PRIMARY KEY CHECK (id = 0),
        latest  INTEGER,
        closing INTEGER
    ) STRICT;
    INSERT INTO settlement_head (id, latest, closing) VALUES (0, NULL, NULL);

    CREATE TABLE accounts (
        id              TEXT    PRIMARY KEY,
        billed          INTEGER NOT NULL DEFAULT 0,
        paid            INTEGER NOT NULL DEFAULT 0,
        pending         INTEGER NOT NULL DEFAULT 0,
        entitled        INTEGER NOT NULL DEFAULT 0,
        paid_out        INTEGER NOT NULL DEFAULT 0,
        payout_pending  INTEGER NOT NULL DEFAULT 0,
        last_period     INTEGER NOT NULL DEFAULT -1,
        oldest_unpaid   INTEGER,
        address         TEXT,
        refused         INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX accounts_unpaid ON accounts (oldest_unpaid) WHERE oldest_unpaid IS NOT NULL;

    -- The grid's totals (one row) and the money at each of its addresses.
    CREATE TABLE grid_totals (
        id          INTEGER PRIMARY KEY CHECK (id = 0),
        paid_in     INTEGER NOT NULL,
        fees        INTEGER NOT NULL,
        payouts     INTEGER NOT NULL,
        last_period INTEGER NOT NULL
    ) STRICT;
    INSERT INTO grid_totals (id, paid_in, fees, payouts, last_period) VALUES (0, 0, 0, 0, -1);
    CREATE TABLE wallet (
        address  TEXT    PRIMARY KEY,
        seq      INTEGER NOT NULL,
        received INTEGER NOT NULL DEFAULT 0,
        spent    INTEGER NOT NULL DEFAULT 0
    ) STRICT;

    -- Ledger batches: consumers' payment claims and the grid's payouts.
    CREATE TABLE batches (
        id              TEXT    PRIMARY KEY,
        kind            TEXT    NOT NULL CHECK (kind IN ('claim', 'payout')),
        registration_id TEXT    NOT NULL,
        amount          INTEGER NOT NULL,
        body            TEXT,
        channel_index   INTEGER,
        created_ms      INTEGER NOT NULL,
        status          TEXT    NOT NULL,
        reason          TEXT,
        last_checked_ms INTEGER NOT NULL DEFAULT 0,
        times_checked   INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX batches_pending ON batches (kind, status, last_checked_ms, created_ms);

    CREATE TABLE rejected_messages (
        registration_id TEXT    NOT NULL,
        channel_index   INTEGER NOT NULL,
        address         TEXT    NOT NULL,
        reason          TEXT    NOT NULL,
        rejected_ms     INTEGER NOT NULL,
        PRIMARY KEY (registration_id, channel_index)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 5: the batch monitor: when to check a batch next, stalled batches, the ledger's
    // reasons, and leases.
    r#"
    ALTER TABLE batches ADD COLUMN next_check_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN stalled       INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN reasons       TEXT    NOT NULL DEFAULT '[]';
    CREATE INDEX batches_due ON batches (status, next_check_ms, last_checked_ms, created_ms);

    CREATE TABLE leases (
        job        TEXT    PRIMARY KEY,
        holder     TEXT    NOT NULL,
        expires_ms INTEGER NOT NULL
    ) STRICT;
    "#,
    // 6: each job's latest run, for the operator.
    r#"
    CREATE TABLE heartbeats (
        job    TEXT    PRIMARY KEY,
        at_ms  INTEGER NOT NULL,
        report TEXT    NOT NULL
    ) STRICT;
    "#,
    // 7: the energy each account's money is for.
    r#"
    ALTER TABLE accounts ADD COLUMN energy_wh INTEGER NOT NULL DEFAULT 0;
    "#,
    // 8: channel messages in a rowid table. Envelopes are large and addresses random,
    // so keyed by address they scattered inserts over the whole table (settlement's
    // payment requests slowed as the table grew); appended by rowid with a narrow
    // unique index on the address, an insert touches the table's last page and a few
    // index pages.
    r#"
    CREATE TABLE channel_messages_by_rowid (
        address     TEXT    NOT NULL UNIQUE,
        envelope    TEXT    NOT NULL,
        attached_ms INTEGER NOT NULL
    ) STRICT;
    INSERT INTO channel_messages_by_rowid (address, envelope, attached_ms)
        SELECT address, envelope, attached_ms FROM channel_messages ORDER BY attached_ms;
    DROP TABLE channel_messages;
    ALTER TABLE channel_messages_by_rowid RENAME TO channel_messages;
    "#,
];

/// Brings the schema up to date in one immediate transaction, so two processes
/// opening the same file at once cannot both migrate it.
pub(crate) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this build knows ({known}); upgrade gridctl"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tracing::info!(version = index + 1, "applying schema migration");
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}
