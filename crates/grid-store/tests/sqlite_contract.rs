//! The store contract, run against the SQLite adapters on a fresh database file.

use std::sync::Arc;

use grid_store::sqlite::{
    SqliteChannelMessageStore, SqliteDb, SqliteItemStore, SqliteMessageQueue, SqliteRegistrationStore,
};
use grid_store::{ChannelMessageStore, ItemStore, MessageQueue, RegistrationStore};
use tempfile::TempDir;

async fn fresh_db() -> (TempDir, SqliteDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path()).await.unwrap();
    (dir, db)
}

async fn registrations() -> (TempDir, Arc<dyn RegistrationStore>) {
    let (dir, db) = fresh_db().await;
    (dir, Arc::new(SqliteRegistrationStore::new(db)))
}

async fn items() -> (TempDir, Arc<dyn ItemStore>) {
    let (dir, db) = fresh_db().await;
    (dir, Arc::new(SqliteItemStore::new(db)))
}

async fn channel_message_stores() -> (TempDir, Arc<dyn ChannelMessageStore>) {
    let (dir, db) = fresh_db().await;
    (dir, Arc::new(SqliteChannelMessageStore::new(db)))
}

async fn queues() -> (TempDir, Arc<dyn MessageQueue>) {
    let (dir, db) = fresh_db().await;
    (dir, Arc::new(SqliteMessageQueue::new(db, "poll-work")))
}

async fn market() -> (TempDir, grid_store::contract::market::MarketStores) {
    use grid_store::sqlite::{SqliteAccountStore, SqliteReadingStore, SqliteSettlementStore};
    let (dir, db) = fresh_db().await;
    let stores = grid_store::contract::market::MarketStores {
        readings: Arc::new(SqliteReadingStore::new(db.clone())),
        settlements: Arc::new(SqliteSettlementStore::new(db.clone())),
        accounts: Arc::new(SqliteAccountStore::new(db.clone())),
        leases: Arc::new(grid_store::sqlite::SqliteLeaseStore::new(db.clone())),
        heartbeats: Arc::new(grid_store::sqlite::SqliteHeartbeatLog::new(db.clone())),
        rejections: Arc::new(grid_store::sqlite::SqliteRejectionLog::new(db)),
    };
    (dir, stores)
}

mod registration_store {
    grid_store::registration_store_contract!(super::registrations);
}

mod item_store {
    grid_store::item_store_contract!(super::items);
}

mod channel_messages {
    grid_store::channel_message_store_contract!(super::channel_message_stores);
}

mod message_queue {
    grid_store::message_queue_contract!(super::queues);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receivers_of_the_embedded_queue_never_share_a_message() {
    let (_dir, queue) = queues().await;
    let ids = grid_store::contract::queue::received_by_concurrent_receivers(&queue).await;
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (30, 30), "each message received once: {ids:?}");
}

#[tokio::test]
async fn reopening_a_database_keeps_its_data_and_does_not_migrate_twice() {
    let (dir, db) = fresh_db().await;
    let (_, store) = (dir.path(), SqliteRegistrationStore::new(db.clone()));
    let r = grid_core::Registration::new(
        grid_core::RegistrationId::parse("reopen-0001").unwrap(),
        grid_core::ItemType::Consumer,
        None,
        None,
        grid_core::EpochMs::now(),
    );
    store.insert(&r).await.unwrap();
    drop(store);
    drop(db);
    let again = SqliteRegistrationStore::new(SqliteDb::open(dir.path()).await.unwrap());
    assert_eq!(again.get(&r.id).await.unwrap().unwrap().value, r);
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(grid_store::sqlite::DATABASE_FILE);
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 999).unwrap();
    let err = SqliteDb::open(dir.path()).await.err().expect("newer schema is refused");
    assert!(err.to_string().contains("schema version 999"), "{err}");
}

mod market {
    grid_store::market_contract!(super::market);
}

async fn sign_ins() -> (TempDir, Arc<dyn grid_store::SignInLog>) {
    let (dir, db) = fresh_db().await;
    (dir, Arc::new(grid_store::sqlite::SqliteSignInLog::new(db)))
}

mod sign_in_log {
    grid_store::sign_in_log_contract!(super::sign_ins);
}
