//! The `RegistrationStore` contract.

use std::sync::Arc;

use grid_core::channel::ChannelSeed;
use grid_core::intake::ReadingTally;
use grid_core::{
    ChannelCredentials, ChannelRoot, EpochMs, ItemName, ItemType, Registration, RegistrationId, RegistrationStatus,
    ReturnChannel, SideKey,
};

use crate::ConflictKind;
use crate::{RegistrationCursor, RegistrationStore, StoreError};

type Store = Arc<dyn RegistrationStore>;

fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).unwrap()
}

/// A channel root of its own for each name (a root backs one registration).
fn root_of(name: &str) -> ChannelRoot {
    let hash = |seed: u128| name.bytes().fold(seed, |h, b| (h ^ u128::from(b)).wrapping_mul(0x1000000000000000000013b));
    ChannelRoot::parse(format!("{:032x}{:032x}", hash(1), hash(2))).unwrap()
}

fn registration(name: &str) -> Registration {
    Registration::new(
        id(name),
        ItemType::Producer,
        Some(ItemName::parse("Rooftop ☀").unwrap()),
        Some(ChannelCredentials { root: root_of(name), side_key: SideKey::parse("SideKey0123456789").unwrap() }),
        EpochMs::parse(1_700_000_000_000).unwrap(),
    )
}

pub async fn an_inserted_registration_reads_back_at_version_one(store: Store) {
    let r = registration("contract-read-1");
    store.insert(&r).await.unwrap();
    let got = store.get(&r.id).await.unwrap().expect("inserted registration is found");
    assert_eq!(got.value, r);
    assert_eq!(got.version, 1);

    let mut consumer = registration("contract-read-3");
    consumer.item_type = ItemType::Consumer;
    consumer.return_channel = Some(ReturnChannel::new(
        ChannelSeed::from_bytes([9; 32]),
        SideKey::parse("ReturnSideKey00000001").unwrap(),
        (1 << 53) - 1,
    ));
    store.insert(&consumer).await.unwrap();
    assert_eq!(store.get(&consumer.id).await.unwrap().unwrap().value, consumer);

    let mut bare = registration("contract-read-2");
    bare.channel = None;
    bare.name = None;
    bare.item_type = ItemType::Consumer;
    store.insert(&bare).await.unwrap();
    assert_eq!(store.get(&bare.id).await.unwrap().unwrap().value, bare);
}

pub async fn getting_an_unknown_id_finds_nothing(store: Store) {
    assert_eq!(store.get(&id("contract-nobody")).await.unwrap(), None);
}

pub async fn inserting_an_existing_id_is_a_conflict_and_keeps_the_first(store: Store) {
    let first = registration("contract-dup-1");
    store.insert(&first).await.unwrap();
    let mut second = first.clone();
    second.item_type = ItemType::Consumer;
    let err = store.insert(&second).await.unwrap_err();
    assert!(err.is_conflict(ConflictKind::Taken), "{err:?}");
    assert_eq!(store.get(&first.id).await.unwrap().unwrap().value, first);
}

/// Lookalike ids (`Contract-Case-1`, `contract-case-1`) are one id: the first holds it,
/// also against a racing insert of the other, and `id_owner` names it for either.
pub async fn ids_that_differ_only_in_case_are_one_id(store: Store) {
    let mut first = registration("Contract-Case-1");
    first.channel = None;
    store.insert(&first).await.unwrap();
    let mut lookalike = registration("contract-CASE-1");
    lookalike.channel = None;
    let err = store.insert(&lookalike).await.unwrap_err();
    assert!(err.is_conflict(ConflictKind::Taken), "{err:?}");
    assert_eq!(store.get(&lookalike.id).await.unwrap(), None);
    assert_eq!(store.id_owner(&lookalike.id).await.unwrap(), Some(first.id.clone()));
    assert_eq!(store.id_owner(&first.id).await.unwrap(), Some(first.id.clone()));
    assert_eq!(store.id_owner(&id("contract-case-2")).await.unwrap(), None);
    // A lookalike with a channel is refused as well, and binds nothing.
    let with_channel = registration("CONTRACT-case-1");
    assert!(store.insert(&with_channel).await.is_err_and(|e| e.is_conflict(ConflictKind::Taken)));
    assert_eq!(store.channel_owner(&root_of("CONTRACT-case-1")).await.unwrap(), None);

    for round in 0..5 {
        let (a, b) = (registration(&format!("Contract-Race-{round}")), registration(&format!("contract-race-{round}")));
        let (x, y) = tokio::join!(
            tokio::spawn({
                let store = store.clone();
                async move { store.insert(&a).await }
            }),
            tokio::spawn({
                let store = store.clone();
                async move { store.insert(&b).await }
            }),
        );
        let wins = [x.unwrap(), y.unwrap()].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: one of two lookalikes registers");
    }
}

pub async fn replacing_at_the_read_version_stores_the_change_and_bumps_the_version(store: Store) {
    let r = registration("contract-replace-1");
    store.insert(&r).await.unwrap();
    let mut changed = r.clone();
    changed.name = None;
    changed.channel = None;
    changed.updated = EpochMs::parse(1_700_000_000_500).unwrap();
    assert_eq!(store.replace(&changed, 1).await.unwrap(), 2);
    let got = store.get(&r.id).await.unwrap().unwrap();
    assert_eq!(got, crate::Versioned { value: changed.clone(), version: 2 });
    assert_eq!(store.replace(&r, 2).await.unwrap(), 3);
}

pub async fn replacing_at_a_stale_version_is_a_conflict_and_writes_nothing(store: Store) {
    let r = registration("contract-stale-1");
    store.insert(&r).await.unwrap();
    let mut changed = r.clone();
    changed.name = None;
    for stale in [0, 2, u64::MAX] {
        let err = store.replace(&changed, stale).await.unwrap_err();
        assert!(err.is_conflict(ConflictKind::Moved), "version {stale}: {err:?}");
    }
    assert_eq!(store.get(&r.id).await.unwrap().unwrap(), crate::Versioned { value: r, version: 1 });
}

pub async fn replacing_a_missing_registration_is_a_conflict(store: Store) {
    let err = store.replace(&registration("contract-ghost-1"), 1).await.unwrap_err();
    assert!(err.is_conflict(ConflictKind::Moved), "{err:?}");
    assert_eq!(store.get(&id("contract-ghost-1")).await.unwrap(), None);
}

pub async fn a_removed_registration_keeps_its_record_and_its_id(store: Store) {
    let r = registration("contract-removed-1");
    store.insert(&r).await.unwrap();
    let mut removed = r.clone();
    removed.status = RegistrationStatus::Removed { at: EpochMs::parse(1_700_000_001_000).unwrap() };
    store.replace(&removed, 1).await.unwrap();
    let got = store.get(&r.id).await.unwrap().unwrap();
    assert_eq!(got.value, removed);
    assert!(!got.value.is_active());
    assert!(store.insert(&r).await.is_err_and(|e| e.is_conflict(ConflictKind::Taken)));
}

pub async fn of_two_concurrent_inserts_of_one_id_exactly_one_wins(store: Store) {
    for round in 0..10 {
        let r = registration(&format!("contract-race-insert-{round}"));
        let (a, b) = tokio::join!(
            tokio::spawn({
                let (store, r) = (store.clone(), r.clone());
                async move { store.insert(&r).await }
            }),
            tokio::spawn({
                let (store, r) = (store.clone(), r.clone());
                async move { store.insert(&r).await }
            }),
        );
        let results = [a.unwrap(), b.unwrap()];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts =
            results.iter().filter(|r| r.as_ref().is_err_and(|e| e.is_conflict(ConflictKind::Taken))).count();
        assert_eq!((wins, conflicts), (1, 1), "round {round}: {results:?}");
    }
}

pub async fn of_two_concurrent_replaces_of_one_version_exactly_one_wins(store: Store) {
    let r = registration("contract-race-replace");
    store.insert(&r).await.unwrap();
    for round in 0..10u64 {
        let version = store.get(&r.id).await.unwrap().unwrap().version;
        let writer = |name: &'static str| {
            let store = store.clone();
            let mut changed = r.clone();
            changed.name = Some(ItemName::parse(name).unwrap());
            tokio::spawn(async move { (name, store.replace(&changed, version).await) })
        };
        let (a, b) = tokio::join!(writer("writer a"), writer("writer b"));
        let results = [a.unwrap(), b.unwrap()];
        let winners: Vec<&str> = results.iter().filter(|(_, r)| r.is_ok()).map(|(n, _)| *n).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(results.iter().any(|(_, r)| r.as_ref().is_err_and(|e| e.is_conflict(ConflictKind::Moved))));
        let stored = store.get(&r.id).await.unwrap().unwrap();
        assert_eq!(stored.version, version + 1);
        assert_eq!(stored.value.name.unwrap().as_str(), winners[0], "the winner's write is the one kept");
    }
}

/// Pages come in a backend's own order (ids on SQLite, hash order on DynamoDB), but
/// following `next` visits every registration exactly once.
pub async fn listing_pages_through_every_registration_exactly_once(store: Store) {
    let mut expected: Vec<String> = (0..23).map(|i| format!("contract-list-{i:03}")).collect();
    for name in expected.iter().rev() {
        store.insert(&registration(name)).await.unwrap();
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut after: Option<RegistrationCursor> = None;
    for _ in 0..100 {
        let page = store.list(after.as_ref(), 5).await.unwrap();
        assert!(page.registrations.len() <= 5);
        seen.extend(page.registrations.iter().map(|r| r.value.id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut listed: Vec<String> = seen.into_iter().filter(|s| s.starts_with("contract-list-")).collect();
    let count = listed.len();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), count, "a registration was listed twice");
    assert_eq!(listed, expected);
}

/// Counts and pages by type come from an index: each type on its own, in id order,
/// removed ones counted apart.
pub async fn registrations_are_counted_and_paged_by_type_in_id_order(store: Store) {
    assert_eq!(store.counts().await.unwrap(), crate::RegistrationCounts::default(), "an empty store counts none");
    let consumer = |name: &str| {
        let mut r = registration(name);
        r.item_type = ItemType::Consumer;
        r
    };
    for i in (0..7).rev() {
        store.insert(&registration(&format!("contract-type-p{i}"))).await.unwrap();
    }
    for i in 0..3 {
        store.insert(&consumer(&format!("contract-type-c{i}"))).await.unwrap();
    }
    let current = store.get(&id("contract-type-p3")).await.unwrap().unwrap();
    let mut removed = current.value.clone();
    removed.status = RegistrationStatus::Removed { at: EpochMs::parse(1_700_000_100_000).unwrap() };
    store.replace(&removed, current.version).await.unwrap();

    let counts = store.counts().await.unwrap();
    assert_eq!((counts.producers.active, counts.producers.removed), (6, 1));
    assert_eq!((counts.consumers.active, counts.consumers.removed), (3, 0));
    assert_eq!(counts.of(ItemType::Producer).total(), 7);
    let names = |page: Vec<grid_core::Registration>| page.into_iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
    let page = store.of_type(ItemType::Producer, 2, 3).await.unwrap();
    assert_eq!(names(page), ["contract-type-p2", "contract-type-p3", "contract-type-p4"], "ids in order, removed too");
    assert_eq!(
        names(store.of_type(ItemType::Producer, 5, 10).await.unwrap()),
        ["contract-type-p5", "contract-type-p6"]
    );
    assert!(store.of_type(ItemType::Producer, 7, 10).await.unwrap().is_empty(), "past the end");
    let consumers = store.of_type(ItemType::Consumer, 0, 10).await.unwrap();
    assert_eq!(names(consumers.clone()), ["contract-type-c0", "contract-type-c1", "contract-type-c2"]);
    assert_eq!(consumers[0], consumer("contract-type-c0"), "whole registrations");
}

pub async fn listing_an_empty_store_gives_an_empty_last_page(store: Store) {
    let page = store.list(None, 10).await.unwrap();
    assert!(page.registrations.is_empty());
    assert_eq!(page.next, None);
}

fn cursor(next_index: u64, closed: bool) -> grid_core::ChannelCursor {
    grid_core::ChannelCursor { next_index, closed }
}

pub async fn advancing_the_cursor_from_where_it_is_moves_it_and_bumps_the_version(store: Store) {
    let r = registration("contract-cursor-1");
    store.insert(&r).await.unwrap();
    let root = r.channel.as_ref().unwrap().root.clone();
    let tally = ReadingTally { period: 900_000, count: 7 };
    store.advance_cursor(&r.id, &root, cursor(0, false), cursor(7, false), ReadingTally::default()).await.unwrap();
    store.advance_cursor(&r.id, &root, cursor(7, false), cursor(9, true), tally).await.unwrap();
    let got = store.get(&r.id).await.unwrap().unwrap();
    assert_eq!((got.value.cursor, got.value.tally, got.version), (cursor(9, true), tally, 3));
    assert!(!got.value.is_polled(), "a closed channel is not polled");
    // An old copy cannot write the old cursor back.
    assert!(store.replace(&r, 1).await.is_err_and(|e| e.is_conflict(ConflictKind::Moved)));
}

pub async fn advancing_from_a_stale_cursor_or_for_another_channel_is_a_conflict(store: Store) {
    let r = registration("contract-cursor-2");
    store.insert(&r).await.unwrap();
    let root = r.channel.as_ref().unwrap().root.clone();
    let other_root = ChannelRoot::parse("ab".repeat(32)).unwrap();
    for (from, on) in [(cursor(3, false), &root), (cursor(0, true), &root), (cursor(0, false), &other_root)] {
        let err = store.advance_cursor(&r.id, on, from, cursor(10, false), ReadingTally::default()).await.unwrap_err();
        assert!(err.is_conflict(ConflictKind::Moved), "{err:?}");
    }
    let err = store
        .advance_cursor(&id("contract-cursor-none"), &root, cursor(0, false), cursor(1, false), ReadingTally::default())
        .await;
    assert!(err.as_ref().is_err_and(|e| e.is_conflict(ConflictKind::Moved)));
    assert_eq!(store.get(&r.id).await.unwrap().unwrap().value.cursor, cursor(0, false));
}

pub async fn of_two_workers_advancing_one_cursor_exactly_one_wins(store: Store) {
    let r = registration("contract-cursor-3");
    store.insert(&r).await.unwrap();
    let root = r.channel.as_ref().unwrap().root.clone();
    let workers: Vec<_> = [5, 8]
        .into_iter()
        .map(|to| {
            let (store, id, root) = (store.clone(), r.id.clone(), root.clone());
            tokio::spawn(async move {
                store.advance_cursor(&id, &root, cursor(0, false), cursor(to, false), ReadingTally::default()).await
            })
        })
        .collect();
    let mut wins = 0;
    for worker in workers {
        match worker.await.unwrap() {
            Ok(()) => wins += 1,
            Err(e) if e.is_conflict(ConflictKind::Moved) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert!([5, 8].contains(&store.get(&r.id).await.unwrap().unwrap().value.cursor.next_index));
}

pub async fn getting_many_finds_the_ones_that_exist(store: Store) {
    for name in ["producer-0101", "producer-0102", "producer-0103"] {
        store.insert(&registration(name)).await.unwrap();
    }
    let mut found: Vec<String> = store
        .get_many(&[id("producer-0103"), id("nobody-0000"), id("producer-0101")])
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.value.id.to_string())
        .collect();
    found.sort();
    assert_eq!(found, ["producer-0101", "producer-0103"]);
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

pub async fn return_channel_indexes_only_move_forward(store: Store) {
    let mut consumer = registration("consumer-0201");
    consumer.item_type = ItemType::Consumer;
    consumer.return_channel =
        Some(ReturnChannel::new(ChannelSeed::from_bytes([3; 32]), SideKey::parse("ReturnKey000000001").unwrap(), 4));
    store.insert(&consumer).await.unwrap();
    store.insert(&registration("producer-0202")).await.unwrap();
    store
        .advance_return_channels(&[(id("consumer-0201"), 7), (id("producer-0202"), 9), (id("nobody-0000"), 1)])
        .await
        .unwrap();
    let next = |v: Option<crate::Versioned<Registration>>| v.unwrap().value.return_channel.map(|c| c.next_index);
    assert_eq!(next(store.get(&id("consumer-0201")).await.unwrap()), Some(7));
    assert_eq!(next(store.get(&id("producer-0202")).await.unwrap()), None, "no return channel, none made");
    store.advance_return_channels(&[(id("consumer-0201"), 5)]).await.unwrap();
    assert_eq!(next(store.get(&id("consumer-0201")).await.unwrap()), Some(7), "never back");
}

pub async fn a_channel_root_backs_one_registration_for_good(store: Store) {
    let first = registration("contract-root-1");
    store.insert(&first).await.unwrap();
    let root = root_of("contract-root-1");
    assert_eq!(store.channel_owner(&root).await.unwrap(), Some(first.id.clone()));
    assert_eq!(store.channel_owner(&root_of("contract-root-none")).await.unwrap(), None);

    // Another registration naming the same root is refused, on insert and on replace.
    let mut twin = registration("contract-root-2");
    twin.channel.as_mut().unwrap().root = root.clone();
    assert!(store.insert(&twin).await.is_err_and(|e| e.is_conflict(ConflictKind::Taken)));
    assert_eq!(store.get(&twin.id).await.unwrap(), None, "nothing written");
    let other = registration("contract-root-3");
    store.insert(&other).await.unwrap();
    let mut moved = other.clone();
    moved.channel.as_mut().unwrap().root = root.clone();
    assert!(matches!(store.replace(&moved, 1).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get(&other.id).await.unwrap().unwrap(), crate::Versioned { value: other.clone(), version: 1 });

    // Its owner may write it again; after a change of channel, or removal, it stays bound.
    let mut renamed = first.clone();
    renamed.name = None;
    assert_eq!(store.replace(&renamed, 1).await.unwrap(), 2);
    let mut elsewhere = renamed.clone();
    elsewhere.channel.as_mut().unwrap().root = root_of("contract-root-elsewhere");
    assert_eq!(store.replace(&elsewhere, 2).await.unwrap(), 3);
    let mut removed = elsewhere.clone();
    removed.status = RegistrationStatus::Removed { at: EpochMs::parse(1_700_000_100_000).unwrap() };
    store.replace(&removed, 3).await.unwrap();
    assert_eq!(store.channel_owner(&root).await.unwrap(), Some(first.id.clone()));
    assert!(store.insert(&twin).await.is_err_and(|e| e.is_conflict(ConflictKind::Taken)));
    let mut back = removed.clone();
    back.channel.as_mut().unwrap().root = root.clone();
    assert_eq!(store.replace(&back, 4).await.unwrap(), 5, "its owner may name it again");
}

pub async fn of_two_concurrent_registrations_of_one_root_exactly_one_wins(store: Store) {
    let root = root_of("contract-root-race");
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let mut r = registration(&format!("contract-race-{i}"));
            r.channel.as_mut().unwrap().root = root.clone();
            tokio::spawn(async move { store.insert(&r).await.is_ok() })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
    let owner = store.channel_owner(&root).await.unwrap().unwrap();
    assert!(store.get(&owner).await.unwrap().is_some());
}
