//! The `ItemStore` contract.

use std::sync::Arc;

use grid_core::{ItemId, JsonItem, PageRequest, QuotaExceeded, RegistrationId, StorageContext, StorageQuota};

use crate::{ItemKey, ItemStore, StoreError};

type Store = Arc<dyn ItemStore>;

/// A quota no contract test comes near.
const ANY: StorageQuota = StorageQuota::MAX;

fn key(registration: &str, context: &str, id: &str) -> ItemKey {
    ItemKey {
        registration: RegistrationId::parse(registration).unwrap(),
        context: StorageContext::parse(context).unwrap(),
        id: ItemId::parse(id).unwrap(),
    }
}

fn item(json: &str) -> JsonItem {
    JsonItem::parse(json.as_bytes()).unwrap()
}

async fn fill(store: &Store, registration: &str, context: &str, count: usize) {
    for i in 0..count {
        store
            .put(&key(registration, context, &format!("item-{i:03}")), &item(&format!(r#"{{"n":{i}}}"#)), ANY)
            .await
            .unwrap();
    }
}

async fn count(store: &Store, registration: &str, context: &str) -> u64 {
    let reg = RegistrationId::parse(registration).unwrap();
    let ctx = StorageContext::parse(context).unwrap();
    store.page(&reg, Some(&ctx), PageRequest::new(0, 1).unwrap()).await.unwrap().total_items
}

pub async fn a_stored_item_reads_back_verbatim(store: Store) {
    let k = key("contract-item-1", "readings", "2024-01-01");
    let doc = item(r#"{ "kWh": 1.25, "note": "Süd ☀", "nested": [1, {"a": null}] }"#);
    store.put(&k, &doc, ANY).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), Some(doc));
}

pub async fn putting_an_item_again_replaces_it(store: Store) {
    let k = key("contract-item-2", "c", "x");
    store.put(&k, &item("1"), ANY).await.unwrap();
    store.put(&k, &item(r#"{"v":2}"#), ANY).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), Some(item(r#"{"v":2}"#)));
    assert_eq!(count(&store, "contract-item-2", "c").await, 1);
}

pub async fn getting_a_missing_item_finds_nothing(store: Store) {
    assert_eq!(store.get(&key("contract-item-3", "c", "missing")).await.unwrap(), None);
}

pub async fn deleting_an_item_says_whether_it_existed(store: Store) {
    let k = key("contract-item-4", "c", "x");
    store.put(&k, &item("true"), ANY).await.unwrap();
    assert!(store.delete(&k).await.unwrap());
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert!(!store.delete(&k).await.unwrap());
}

pub async fn deleting_a_context_removes_exactly_that_context(store: Store) {
    fill(&store, "contract-item-5", "doomed", 7).await;
    fill(&store, "contract-item-5", "kept", 3).await;
    let reg = RegistrationId::parse("contract-item-5").unwrap();
    let deleted = store.delete_context(&reg, &StorageContext::parse("doomed").unwrap()).await.unwrap();
    assert_eq!(deleted, 7);
    assert_eq!(count(&store, "contract-item-5", "doomed").await, 0);
    assert_eq!(count(&store, "contract-item-5", "kept").await, 3);
    assert_eq!(store.delete_context(&reg, &StorageContext::parse("doomed").unwrap()).await.unwrap(), 0);
}

pub async fn deleting_a_registration_removes_all_its_items_and_no_others(store: Store) {
    fill(&store, "contract-item-6", "a", 4).await;
    fill(&store, "contract-item-6", "b", 5).await;
    fill(&store, "contract-item-6-other", "a", 2).await;
    let reg = RegistrationId::parse("contract-item-6").unwrap();
    assert_eq!(store.delete_registration(&reg).await.unwrap(), 9);
    assert_eq!(count(&store, "contract-item-6", "a").await, 0);
    assert_eq!(count(&store, "contract-item-6", "b").await, 0);
    assert_eq!(count(&store, "contract-item-6-other", "a").await, 2);
}

pub async fn pages_split_a_context_in_id_order_with_its_total(store: Store) {
    fill(&store, "contract-item-7", "c", 25).await;
    let reg = RegistrationId::parse("contract-item-7").unwrap();
    let ctx = StorageContext::parse("c").unwrap();
    let mut all = Vec::new();
    for (page, expected_len) in [(0, 10), (1, 10), (2, 5)] {
        let got = store.page(&reg, Some(&ctx), PageRequest::new(page, 10).unwrap()).await.unwrap();
        assert_eq!(got.total_items, 25);
        assert_eq!(got.items.len(), expected_len, "page {page}");
        all.extend(got.items);
    }
    let expected: Vec<(StorageContext, ItemId, JsonItem)> = (0..25)
        .map(|i| (ctx.clone(), ItemId::parse(format!("item-{i:03}")).unwrap(), item(&format!(r#"{{"n":{i}}}"#))))
        .collect();
    assert_eq!(all, expected);
}

/// The seed's `GET /storage/{registrationId}`: every context, ordered as S3 lists keys
/// (bytewise over `context/id`, so `a.b/…` comes before `a/…`), and no other registration.
pub async fn pages_without_a_context_list_every_context_in_key_order(store: Store) {
    fill(&store, "contract-item-11", "a", 2).await;
    fill(&store, "contract-item-11", "a.b", 2).await;
    fill(&store, "contract-item-11", "b", 1).await;
    fill(&store, "contract-item-110", "a", 3).await;
    let reg = RegistrationId::parse("contract-item-11").unwrap();
    let first = store.page(&reg, None, PageRequest::new(0, 3).unwrap()).await.unwrap();
    let second = store.page(&reg, None, PageRequest::new(1, 3).unwrap()).await.unwrap();
    assert_eq!((first.total_items, second.total_items), (5, 5));
    let keys: Vec<String> =
        first.items.iter().chain(&second.items).map(|(c, i, _)| format!("{}/{}", c.as_str(), i.as_str())).collect();
    assert_eq!(keys, ["a.b/item-000", "a.b/item-001", "a/item-000", "a/item-001", "b/item-000"]);
}

pub async fn a_page_past_the_end_is_empty_but_keeps_the_total(store: Store) {
    fill(&store, "contract-item-8", "c", 3).await;
    let reg = RegistrationId::parse("contract-item-8").unwrap();
    let ctx = StorageContext::parse("c").unwrap();
    for page in [1, 7, u64::MAX] {
        let got = store.page(&reg, Some(&ctx), PageRequest::new(page, 3).unwrap()).await.unwrap();
        assert!(got.items.is_empty(), "page {page}");
        assert_eq!(got.total_items, 3);
    }
    let empty = store
        .page(&reg, Some(&StorageContext::parse("nothing-here").unwrap()), PageRequest::new(0, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(empty, crate::ItemPage { items: vec![], total_items: 0 });
}

/// Key-prefix stores (S3) must not confuse `abc` with `abc1` or `abc/…`.
pub async fn ids_that_share_a_prefix_stay_apart(store: Store) {
    fill(&store, "contract-item-9", "ctx", 2).await;
    fill(&store, "contract-item-9", "ctx2", 3).await;
    fill(&store, "contract-item-90", "ctx", 4).await;
    assert_eq!(count(&store, "contract-item-9", "ctx").await, 2);
    assert_eq!(count(&store, "contract-item-9", "ctx2").await, 3);
    assert_eq!(count(&store, "contract-item-90", "ctx").await, 4);
    let reg = RegistrationId::parse("contract-item-9").unwrap();
    assert_eq!(store.delete_context(&reg, &StorageContext::parse("ctx").unwrap()).await.unwrap(), 2);
    assert_eq!(count(&store, "contract-item-9", "ctx2").await, 3);
    assert_eq!(store.delete_registration(&reg).await.unwrap(), 3);
    assert_eq!(count(&store, "contract-item-90", "ctx").await, 4);
}

pub async fn concurrent_puts_of_distinct_items_all_land(store: Store) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.put(&key("contract-item-10", "c", &format!("p{i:02}")), &item(&i.to_string()), ANY).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(count(&store, "contract-item-10", "c").await, 32);
}

pub async fn a_write_past_the_quota_is_refused_and_a_replacement_or_deletion_makes_room(store: Store) {
    let quota = StorageQuota::new(2, 1024).unwrap();
    let (a, b, c) =
        (key("contract-item-q", "c", "a"), key("contract-item-q", "d", "b"), key("contract-item-q", "c", "c"));
    store.put(&a, &item("1"), quota).await.unwrap();
    store.put(&b, &item("2"), quota).await.unwrap();
    let refused = store.put(&c, &item("3"), quota).await.unwrap_err();
    assert!(matches!(refused, StoreError::OverQuota(QuotaExceeded::Items { held: 2, quota: 2 })), "{refused:?}");
    assert_eq!(store.get(&c).await.unwrap(), None, "nothing written");
    // Replacing an item is no new item; a body past the bytes is refused.
    store.put(&a, &item("11"), quota).await.unwrap();
    let big = item(&format!("\"{}\"", "x".repeat(1100)));
    assert!(matches!(store.put(&a, &big, quota).await, Err(StoreError::OverQuota(QuotaExceeded::Bytes { .. }))));
    assert_eq!(store.get(&a).await.unwrap(), Some(item("11")));
    // Deleting makes room again, by item and by folder.
    assert!(store.delete(&b).await.unwrap());
    store.put(&c, &item("3"), quota).await.unwrap();
    let reg = RegistrationId::parse("contract-item-q").unwrap();
    assert_eq!(store.delete_context(&reg, &StorageContext::parse("c").unwrap()).await.unwrap(), 2);
    store.put(&b, &item("2"), quota).await.unwrap();
    store.put(&a, &item("1"), quota).await.unwrap();
    // Another registration's items count for it alone.
    store.put(&key("contract-item-q-other", "c", "a"), &item("1"), quota).await.unwrap();
}

pub async fn a_page_lists_contexts_in_key_order_through_the_index(store: Store) {
    // "a.b/x" sorts before "a/x" bytewise ('.' < '/'), and "a-b" before both.
    for (context, id) in [("a", "x"), ("a.b", "x"), ("a-b", "y"), ("a", "y"), ("ab", "z")] {
        store.put(&key("contract-item-o", context, id), &item("0"), ANY).await.unwrap();
    }
    let reg = RegistrationId::parse("contract-item-o").unwrap();
    let all = store.page(&reg, None, PageRequest::new(0, 100).unwrap()).await.unwrap();
    let listed: Vec<String> = all.items.iter().map(|(c, i, _)| format!("{c}/{i}")).collect();
    assert_eq!(listed, ["a-b/y", "a.b/x", "a/x", "a/y", "ab/z"]);
    let context = StorageContext::parse("a").unwrap();
    let one = store.page(&reg, Some(&context), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((one.total_items, one.items.len(), one.items[0].1.as_str()), (2, 1, "y"));
}
