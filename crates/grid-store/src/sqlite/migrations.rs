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
    // 9: DESIGN.md §6's local market, and a channel root backing one registration.
    r#"
    -- Periods settled so far were settled as a pool, and keep their figures.
    UPDATE settlements SET record = json_set(record, '$.rules', 'pool')
        WHERE json_extract(record, '$.rules') IS NULL;

    -- The energy the market traded, per account (under the pool, all of it).
    ALTER TABLE accounts ADD COLUMN matched_wh INTEGER NOT NULL DEFAULT 0;
    UPDATE accounts SET matched_wh = energy_wh;

    -- What the grid owes each producer from each period, payable to the address the
    -- producer named in that period.
    CREATE TABLE entitlements (
        producer_id TEXT    NOT NULL,
        period      INTEGER NOT NULL,
        address     TEXT    NOT NULL,
        amount      INTEGER NOT NULL,
        unpaid      INTEGER NOT NULL CHECK (unpaid >= 0 AND unpaid <= amount),
        PRIMARY KEY (producer_id, period)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX entitlements_unpaid ON entitlements (producer_id, period) WHERE unpaid > 0;
    -- The pool owed each producer one sum, from its oldest unpaid period, payable to
    -- its latest address: that becomes one entitlement.
    INSERT INTO entitlements (producer_id, period, address, amount, unpaid)
        SELECT id, oldest_unpaid, address, entitled - paid_out - payout_pending, entitled - paid_out - payout_pending
        FROM accounts
        WHERE oldest_unpaid IS NOT NULL AND address IS NOT NULL AND entitled > paid_out + payout_pending;

    -- A payout names the periods it covers, so a refused one gives them back. A pending
    -- payout of the pool covers its producer's last period, at the address it pays.
    ALTER TABLE batches ADD COLUMN covers TEXT;
    UPDATE batches SET covers = json_array(json_object(
            'period', (SELECT last_period FROM accounts WHERE accounts.id = batches.registration_id),
            'address', json_extract(body, '$.transfers[0].to'),
            'amount', amount))
        WHERE kind = 'payout' AND status = 'pending';
    DROP INDEX accounts_unpaid;
    ALTER TABLE accounts DROP COLUMN oldest_unpaid;
    ALTER TABLE accounts DROP COLUMN address;

    -- A channel root backs one registration: the oldest that named it. Any other that
    -- shared it stops being polled (its history stays), so no reading counts twice.
    CREATE TABLE channel_roots (
        root            TEXT PRIMARY KEY,
        registration_id TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT OR IGNORE INTO channel_roots (root, registration_id)
        SELECT channel_root, id FROM registrations WHERE channel_root IS NOT NULL ORDER BY created_ms, id;
    UPDATE registrations SET cursor_closed = 1, version = version + 1
        WHERE channel_root IS NOT NULL AND cursor_closed = 0
          AND id != (SELECT registration_id FROM channel_roots WHERE root = registrations.channel_root);
    "#,
    // 10: ids that differ only in case are one id: each folded id names the
    // registration that holds it, the oldest where lookalikes exist already (they keep
    // working; no new lookalike can register).
    r#"
    CREATE TABLE registration_ids (
        folded          TEXT PRIMARY KEY,
        registration_id TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT OR IGNORE INTO registration_ids (folded, registration_id)
        SELECT lower(id), id FROM registrations ORDER BY created_ms, id;
    "#,
    // 11: the portal's revoked sessions and sign-in attempts.
    r#"
    CREATE TABLE revoked_sessions (
        session  TEXT PRIMARY KEY,
        until_ms INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE sign_in_attempts (
        client        TEXT NOT NULL,
        window_end_ms INTEGER NOT NULL,
        attempts      INTEGER NOT NULL,
        PRIMARY KEY (client, window_end_ms)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 12: each channel's head and how far it was read, so the poller's sweep
    // finds unread channels through a partial index instead of every registration.
    // Existing channels start read up to their registration's cursor (unregistered ones
    // at 0: the first sweep finds they have no reader and marks them read).
    r#"
    CREATE TABLE channel_heads (
        root       TEXT    PRIMARY KEY,
        next_index INTEGER NOT NULL,
        read_index INTEGER NOT NULL DEFAULT 0
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX channel_heads_unread ON channel_heads (root) WHERE next_index > read_index;
    INSERT INTO channel_heads (root, next_index)
        SELECT json_extract(envelope, '$.root'), max(json_extract(envelope, '$.index')) + 1
        FROM channel_messages GROUP BY json_extract(envelope, '$.root');
    UPDATE channel_heads SET read_index = coalesce(
        (SELECT cursor_next_index FROM registrations WHERE channel_root = channel_heads.root), 0);
    "#,
    // 13: since when each unread channel has been unread (the poll lag).
    // Channels unread now count from the upgrade.
    r#"
    ALTER TABLE channel_heads ADD COLUMN unread_since INTEGER;
    UPDATE channel_heads SET unread_since = unixepoch() * 1000 WHERE next_index > read_index;
    "#,
    // 14: the portal's counts and lists by type, and the newest rejections, through
    // indexes rather than every registration.
    r#"
    CREATE INDEX registrations_by_type ON registrations (item_type, id);
    CREATE INDEX rejected_messages_recent ON rejected_messages (rejected_ms);
    "#,
    // 15: each return channel's public key beside its seed, so settlement signs payment
    // requests without deriving it. Older rows derive it when read.
    r#"
    ALTER TABLE registrations ADD COLUMN return_public_key TEXT;
    "#,
    // 16: a period's readings summed from the index alone, without looking each up
    // (settlement of a million readings: 0.6 s of lookups). Same order as before.
    r#"
    DROP INDEX readings_counted_in;
    CREATE INDEX readings_counted_in ON readings (counted_in, registration_id, kind, start_ms, price, wh, payment_address);
    "#,
    // 17: the key the grid makes for a registration with no channel, so every
    // registration is owned from its first request. Older keyless rows stay
    // keyless: nobody can change them.
    r#"
    ALTER TABLE registrations ADD COLUMN management_key TEXT;
    "#,
    // 18: storage quotas and pages by index. Each item's size, what each
    // registration holds (kept with every write, so a quota check reads one row), and
    // the listing order (`context/id`, bytewise, as S3 lists keys) as an index, so a page
    // reads only its own bodies. `path` is a plain column the adapter writes: an index
    // on a generated column is never a covering one.
    r#"
    ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    UPDATE items SET size = length(CAST(body AS BLOB));
    CREATE TABLE storage_usage (
        registration_id TEXT PRIMARY KEY,
        items           INTEGER NOT NULL,
        bytes           INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO storage_usage SELECT registration_id, count(*), sum(size) FROM items GROUP BY registration_id;
    ALTER TABLE items ADD COLUMN path TEXT NOT NULL DEFAULT '';
    UPDATE items SET path = context || '/' || id;
    CREATE INDEX items_by_path ON items (registration_id, path);
    "#,
    // 19: the readings each registration stored for its newest period, kept with its
    // cursor: the poller's bound per period.
    r#"
    ALTER TABLE registrations ADD COLUMN tally_period INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE registrations ADD COLUMN tally_count INTEGER NOT NULL DEFAULT 0;
    "#,
    // 20: channels nobody claimed are bounded and expire. A head names who
    // claimed its root (a registration, or a producer for its source), or when it
    // expires unclaimed, with the envelopes it took meanwhile and the unclaimed channels
    // opened each day. Registered channels are their registration's, with a head if
    // they had none; heads from before with neither mark were written by devices the
    // grid never heard of and stay as they are (counted as claimed: nothing expires).
    r#"
    ALTER TABLE channel_heads ADD COLUMN owner TEXT;
    ALTER TABLE channel_heads ADD COLUMN expires_ms INTEGER;
    INSERT INTO channel_heads (root, next_index) SELECT root, 0 FROM channel_roots WHERE true
        ON CONFLICT (root) DO NOTHING;
    UPDATE channel_heads SET owner = (SELECT registration_id FROM channel_roots WHERE root = channel_heads.root);
    CREATE INDEX channel_heads_expiring ON channel_heads (expires_ms) WHERE expires_ms IS NOT NULL;
    CREATE INDEX channel_heads_by_owner ON channel_heads (owner) WHERE owner IS NOT NULL;
    CREATE TABLE unclaimed_messages (
        address TEXT PRIMARY KEY,
        root    TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX unclaimed_messages_by_root ON unclaimed_messages (root);
    CREATE TABLE unclaimed_days (
        day      INTEGER PRIMARY KEY,
        channels INTEGER NOT NULL
    ) STRICT;
    "#,
    // 21: prosumers: a registration may be a prosumer. Only the CHECK's text
    // changes, which SQLite's documented procedure for such changes does in the schema
    // itself (no rows are rewritten); `apply` moves the schema version on after it.
    r#"
    PRAGMA writable_schema = ON;
    UPDATE sqlite_schema
        SET sql = replace(sql, 'CHECK (item_type IN (''producer'', ''consumer''))',
                               'CHECK (item_type IN (''producer'', ''consumer'', ''prosumer''))')
        WHERE type = 'table' AND name = 'registrations';
    PRAGMA writable_schema = OFF;
    "#,
    // 22: the kind of registration each reading came from (the report's
    // `kind`), summed from the index like the rest; older readings have none.
    r#"
    ALTER TABLE readings ADD COLUMN party TEXT;
    DROP INDEX readings_counted_in;
    CREATE INDEX readings_counted_in
        ON readings (counted_in, registration_id, kind, start_ms, price, wh, payment_address, party);
    "#,
    // 23: the community's savings and gains summed over the periods settled, beside the
    // fees (the overview's totals), counted from every period settled so far.
    r#"
    ALTER TABLE grid_totals ADD COLUMN savings INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grid_totals ADD COLUMN gains INTEGER NOT NULL DEFAULT 0;
    UPDATE grid_totals SET
        savings = (SELECT coalesce(sum(json_extract(record, '$.savings')), 0) FROM settlements),
        gains = (SELECT coalesce(sum(json_extract(record, '$.gains')), 0) FROM settlements)
        WHERE id = 0;
    "#,
    // 24: members' statements: one line per registration and settled period, written
    // with its account's entry (periods settled before have none; their reports are in
    // the archive).
    r#"
    CREATE TABLE statement_lines (
        registration_id TEXT    NOT NULL,
        period          INTEGER NOT NULL,
        kind            TEXT,
        price           INTEGER NOT NULL,
        cap             INTEGER NOT NULL,
        feed_in         INTEGER NOT NULL,
        self_consumed   INTEGER NOT NULL,
        used            INTEGER NOT NULL,
        local           INTEGER NOT NULL,
        imported        INTEGER NOT NULL,
        charge          INTEGER NOT NULL,
        bid             INTEGER,
        savings         INTEGER NOT NULL,
        produced        INTEGER NOT NULL,
        offered         INTEGER NOT NULL,
        matched         INTEGER NOT NULL,
        exported        INTEGER NOT NULL,
        allocation      INTEGER NOT NULL,
        ask             INTEGER,
        gain            INTEGER NOT NULL,
        PRIMARY KEY (registration_id, period)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 25: a rejection's reason as its word (`reason` keeps the message); older rows have
    // none and read it from their message (records::reject_reason).
    r#"
    ALTER TABLE rejected_messages ADD COLUMN reason_code TEXT;
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
        if sql.contains("writable_schema") {
            // SQLite's procedure for an edited schema: a new schema version, so every
            // connection reads the schema again, and a check that it still holds.
            let version: i64 = tx.pragma_query_value(None, "schema_version", |row| row.get(0))?;
            tx.pragma_update(None, "schema_version", version + 1)?;
            let check: String = tx.pragma_query_value(None, "integrity_check", |row| row.get(0))?;
            if check != "ok" {
                return Err(StoreError::Corrupt(format!("schema migration {}: integrity check: {check}", index + 1)));
            }
        }
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use grid_core::books::{AccountEntry, BatchState, GridEntry, StatementLine};
    use grid_core::market::{MarketRules, PeriodStart, PriceSource};
    use grid_core::{ChannelRoot, Iota, Price, RegistrationId, Wh};

    use super::*;
    use crate::sqlite::{SqliteAccountStore, SqliteDb, SqliteRegistrationStore, SqliteSettlementStore};
    use crate::{AccountBook, BatchWatch, PayoutBook, RegistrationStore, SettlementStore};

    const PERIOD: u64 = 1_795_860_000_000;

    /// A grid that settled two periods under the pool's rules (schema 8): a producer
    /// owed 70 (30 of it in a pending payout), and two registrations sharing a root.
    fn pool_era_database(dir: &std::path::Path) {
        let mut conn = Connection::open(dir.join(crate::sqlite::DATABASE_FILE)).unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[..8] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", 8).unwrap();
        tx.execute_batch(&format!(
            r#"
            INSERT INTO settlements (period, record) VALUES ({PERIOD}, '{{"period":{PERIOD},"price":110,
                "priceSource":"consensus","produced":3000,"used":2734,"revenue":301,"fee":60,"distributable":241,
                "unallocated":0,"producers":2,"consumers":2,"paymentAddress":"grid-1995400","settled":{PERIOD}}}');
            UPDATE settlement_head SET latest = {PERIOD};
            INSERT INTO accounts (id, entitled, paid_out, payout_pending, last_period, oldest_unpaid, address, energy_wh)
                VALUES ('producer-0001', 146, 76, 30, {PERIOD}, {PERIOD}, 'wallet-old', 3000);
            INSERT INTO accounts (id, billed, last_period, energy_wh) VALUES ('consumer-0001', 165, {PERIOD}, 1500);
            INSERT INTO batches (id, kind, registration_id, amount, body, created_ms, status)
                VALUES ('payout-old', 'payout', 'producer-0001', 30,
                        '{{"id":"payout-old","transfers":[{{"from":"grid-1995400","to":"wallet-old","amount":30}}]}}',
                        {PERIOD}, 'pending');
            INSERT INTO registrations (id, item_type, created_ms, updated_ms, channel_root, channel_side_key, version)
                VALUES ('producer-0001', 'producer', 1, 1, '{root}', 'SideKey0123456789', 1),
                       ('producer-0002', 'producer', 2, 2, '{root}', 'SideKey0123456789', 1);
            "#,
            root = "ab".repeat(32)
        ))
        .unwrap();
        tx.commit().unwrap();
    }

    #[tokio::test]
    async fn channels_stored_before_heads_were_kept_get_theirs_read_up_to_their_registrations_cursor() {
        use grid_core::SideKey;
        use grid_core::channel::{ChannelSecrets, ChannelSeed, Command};

        use crate::ChannelMessageStore;
        use crate::sqlite::SqliteChannelMessageStore;

        let dir = tempfile::tempdir().unwrap();
        let secrets = |seed: u8| {
            ChannelSecrets::new(&ChannelSeed::from_bytes([seed; 32]), SideKey::parse("MigrationSideKey00").unwrap())
        };
        let (read, orphan) = (secrets(1), secrets(2));
        {
            let mut conn = Connection::open(dir.path().join(crate::sqlite::DATABASE_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..11] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 11).unwrap();
            for (channel, count) in [(&read, 3u64), (&orphan, 2)] {
                for i in 0..count {
                    let envelope = channel.seal(i, Command::Hello.to_json().as_bytes(), [i as u8; 12]).unwrap();
                    tx.execute(
                        "INSERT INTO channel_messages (address, envelope, attached_ms) VALUES (?1, ?2, 1)",
                        rusqlite::params![channel.access().address(i).as_str(), envelope.to_json()],
                    )
                    .unwrap();
                }
            }
            tx.execute(
                "INSERT INTO registrations (id, item_type, created_ms, updated_ms, channel_root, channel_side_key,
                                            version, cursor_next_index)
                 VALUES ('consumer-0001', 'consumer', 1, 1, ?1, 'MigrationSideKey00', 1, 2)",
                [read.access().root().as_str()],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO channel_roots (root, registration_id) VALUES (?1, 'consumer-0001')",
                [read.access().root().as_str()],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let channels = SqliteChannelMessageStore::new(SqliteDb::open(dir.path()).await.unwrap());
        let mut expected = vec![(read.access().root().clone(), 3), (orphan.access().root().clone(), 2)];
        expected.sort();
        let heads = async || -> Vec<_> {
            channels.unread(None, 10).await.unwrap().into_iter().map(|c| (c.root, c.head)).collect()
        };
        assert_eq!(heads().await, expected, "heads from the stored envelopes");
        let since = channels.unread(None, 10).await.unwrap()[0].since;
        assert!(since.is_some_and(|t| t.get() > 1_700_000_000_000), "unread from the upgrade: {since:?}");
        channels.read_up_to(read.access().root(), 2).await.unwrap();
        channels.read_up_to(orphan.access().root(), 2).await.unwrap();
        assert_eq!(heads().await, [(read.access().root().clone(), 3)], "read up to 2 of 3");

        // Schema 20: a registered channel is its registration's, and one the grid never
        // heard of, written before claims were kept, stays as it was: neither is bounded
        // like a channel nobody claimed (the first 16 indexes).
        use crate::{Claim, Received};
        use grid_core::channel::UnclaimedChannels;
        let at = |channel: &ChannelSecrets, i: u64| {
            (channel.access().address(i), channel.seal(i, Command::Hello.to_json().as_bytes(), [9; 12]).unwrap())
        };
        let now = grid_core::EpochMs::now();
        for channel in [&read, &orphan] {
            let received = channels.receive(&[at(channel, 20)], now, UnclaimedChannels::DEFAULT).await.unwrap();
            assert!(matches!(received[..], [Received::Stored { .. }]), "{received:?}");
        }
        let owner = grid_core::RegistrationId::parse("consumer-0001").unwrap();
        let other = grid_core::RegistrationId::parse("producer-0009").unwrap();
        assert_eq!(channels.claim(read.access().root(), &other, Some(10)).await.unwrap(), Claim::Taken { by: owner });
        assert_eq!(channels.forget_expired(now, 10).await.unwrap(), 0, "nothing of before expires");
    }

    #[tokio::test]
    async fn the_grid_totals_count_the_savings_and_gains_of_every_period_settled_before_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = Connection::open(dir.path().join(crate::sqlite::DATABASE_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..22] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 22).unwrap();
            // Two community periods and one settled before periods had such figures.
            for (period, record) in [
                (PERIOD, r#"{"savings":40,"gains":25,"fee":60}"#),
                (PERIOD + 900_000, r#"{"savings":3,"gains":-30,"fee":2}"#),
                (PERIOD - 900_000, r#"{"fee":7}"#),
            ] {
                tx.execute(
                    "INSERT INTO settlements (period, record) VALUES (?1, ?2)",
                    rusqlite::params![period, record],
                )
                .unwrap();
            }
            tx.execute("UPDATE grid_totals SET fees = 69 WHERE id = 0", []).unwrap();
            tx.commit().unwrap();
        }
        let accounts = SqliteAccountStore::new(SqliteDb::open(dir.path()).await.unwrap());
        let totals = accounts.totals().await.unwrap();
        assert_eq!((totals.fees, totals.savings, totals.gains), (Iota::new(69), Iota::new(43), -5));
    }

    #[tokio::test]
    async fn items_stored_before_quotas_count_against_them_and_list_in_key_order() {
        use grid_core::{ItemId, JsonItem, PageRequest, QuotaExceeded, RegistrationId, StorageContext, StorageQuota};

        use crate::sqlite::SqliteItemStore;
        use crate::{ItemKey, ItemStore};

        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = Connection::open(dir.path().join(crate::sqlite::DATABASE_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..17] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 17).unwrap();
            for (context, id, body) in [("a", "x", "[1]"), ("a.b", "y", "\"two\""), ("b", "z", "{}")] {
                tx.execute(
                    "INSERT INTO items (registration_id, context, id, body) VALUES ('registration-1', ?1, ?2, ?3)",
                    [context, id, body],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let items = SqliteItemStore::new(SqliteDb::open(dir.path()).await.unwrap());
        let registration = RegistrationId::parse("registration-1").unwrap();
        let page = items.page(&registration, None, PageRequest::new(0, 10).unwrap()).await.unwrap();
        let listed: Vec<String> = page.items.iter().map(|(c, i, _)| format!("{c}/{i}")).collect();
        assert_eq!(listed, ["a.b/y", "a/x", "b/z"]);
        // Three items are held (3 + 5 + 2 bytes): a fourth is past a quota of three.
        let key = |id: &str| ItemKey {
            registration: registration.clone(),
            context: StorageContext::parse("c").unwrap(),
            id: ItemId::parse(id).unwrap(),
        };
        let refused = items.put(&key("w"), &JsonItem::parse(b"1").unwrap(), StorageQuota::new(3, 1024).unwrap()).await;
        assert!(
            matches!(refused, Err(StoreError::OverQuota(QuotaExceeded::Items { held: 3, quota: 3 }))),
            "{refused:?}"
        );
        assert!(
            items
                .delete(&ItemKey {
                    context: StorageContext::parse("b").unwrap(),
                    id: ItemId::parse("z").unwrap(),
                    ..key("z")
                })
                .await
                .unwrap()
        );
        items.put(&key("w"), &JsonItem::parse(b"1").unwrap(), StorageQuota::new(3, 1024).unwrap()).await.unwrap();
    }

    #[tokio::test]
    async fn a_pool_era_grid_keeps_its_settlements_and_debts_and_settles_on_under_the_market() {
        let dir = tempfile::tempdir().unwrap();
        pool_era_database(dir.path());
        let db = SqliteDb::open(dir.path()).await.unwrap();
        let (settlements, accounts, registrations) = (
            SqliteSettlementStore::new(db.clone()),
            Arc::new(SqliteAccountStore::new(db.clone())),
            SqliteRegistrationStore::new(db),
        );
        let start = PeriodStart::parse(PERIOD).unwrap();

        // The settled period reads as it was, marked as the pool's.
        let old = settlements.get(start).await.unwrap().unwrap();
        assert_eq!(
            (old.rules, old.price.get(), old.price_source, old.revenue, old.used, old.matched),
            (MarketRules::Pool, 110, PriceSource::Traded, Iota::new(301), Wh::new(2734), Wh::ZERO)
        );
        let consumer = accounts.get(&RegistrationId::parse("consumer-0001").unwrap()).await.unwrap().unwrap();
        assert_eq!((consumer.energy, consumer.matched), (Wh::new(1500), Wh::new(1500)), "all of it traded");

        // What the pool owed the producer and had not sent is one entitlement, to its address.
        let producer = RegistrationId::parse("producer-0001").unwrap();
        let unpaid = accounts.unpaid().await.unwrap();
        let owed: Vec<(u64, &str, u64)> =
            unpaid[0].owed.iter().map(|e| (e.period.get(), e.address.as_str(), e.unpaid.get())).collect();
        assert_eq!(owed, [(PERIOD, "wallet-old", 40)]);

        // Its pending payout, refused, gives its 30 back to that period.
        let batch = grid_core::BatchId::parse("payout-old").unwrap();
        assert!(
            accounts
                .resolve_payout(
                    &batch,
                    &grid_core::books::PayoutResolution::Refused { reasons: vec!["refused".into()] }
                )
                .await
                .unwrap()
        );
        assert_eq!(accounts.unpaid().await.unwrap()[0].total(), Iota::new(70));
        assert_eq!(accounts.batch_counts().await.unwrap().invalid, 1);
        assert_eq!(accounts.batches(Some(BatchState::Invalid), 5).await.unwrap()[0].registration, producer);

        // The next period applies under the market's rules, with its own address.
        let next = PeriodStart::parse(PERIOD + 900_000).unwrap();
        let entry = AccountEntry {
            registration: producer.clone(),
            energy: Wh::new(100),
            matched: Wh::new(40),
            payment_address: Some(grid_core::PaymentAddress::parse("wallet-new").unwrap()),
            line: StatementLine {
                produced: Wh::new(100),
                matched: Wh::new(40),
                allocation: Iota::new(5),
                ..StatementLine::blank(next, Price::ZERO, Price::ZERO, Price::ZERO)
            },
        };
        accounts.apply(next, &[entry], GridEntry::fee(Iota::new(1))).await.unwrap();
        let owed = accounts.unpaid().await.unwrap()[0].owed.clone();
        assert_eq!(owed.iter().map(|e| e.address.as_str()).collect::<Vec<_>>(), ["wallet-old", "wallet-new"]);

        // Of the two registrations on one root, the older keeps it; the other is no longer polled.
        let root = ChannelRoot::parse("ab".repeat(32)).unwrap();
        assert_eq!(registrations.channel_owner(&root).await.unwrap(), Some(producer));
        let twin = registrations.get(&RegistrationId::parse("producer-0002").unwrap()).await.unwrap().unwrap();
        assert!(!twin.value.is_polled() && twin.value.is_active());
        let mut renamed = twin.value.clone();
        renamed.name = Some(grid_core::ItemName::parse("still changeable").unwrap());
        registrations.replace(&renamed, twin.version).await.unwrap();
    }

    #[tokio::test]
    async fn a_number_beyond_what_sqlite_holds_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = SqliteAccountStore::new(SqliteDb::open(dir.path()).await.unwrap());
        let consumer = RegistrationId::parse("consumer-0001").unwrap();
        let start = PeriodStart::parse(PERIOD).unwrap();
        let entry = |billed: u64| AccountEntry {
            registration: consumer.clone(),
            energy: Wh::new(1),
            matched: Wh::new(1),
            payment_address: None,
            line: StatementLine {
                used: Wh::new(1),
                local: Wh::new(1),
                charge: Iota::new(billed),
                ..StatementLine::blank(start, Price::ZERO, Price::ZERO, Price::ZERO)
            },
        };
        let refused = accounts.apply(start, &[entry(i64::MAX as u64 + 1)], GridEntry::fee(Iota::new(3))).await;
        assert!(matches!(refused, Err(crate::StoreError::OutOfRange(_))), "{refused:?}");
        assert_eq!(accounts.get(&consumer).await.unwrap(), None);
        assert_eq!(accounts.totals().await.unwrap().fees, Iota::ZERO, "the whole period is refused");
        accounts.apply(start, &[entry(i64::MAX as u64)], GridEntry::fee(Iota::new(3))).await.unwrap();
        assert_eq!(accounts.get(&consumer).await.unwrap().unwrap().billed, Iota::new(i64::MAX as u64));
    }
}
