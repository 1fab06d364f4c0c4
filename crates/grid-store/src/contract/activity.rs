//! The [`RejectionLog`](crate::RejectionLog) contract: each rejection kept once, listed
//! newest first.

use grid_core::EpochMs;
use grid_core::intake::RejectReason;

use super::market::*;

pub async fn rejections_are_kept_once_and_listed_newest_first_by_registration_and_for_all(stores: MarketStores) {
    let rejected = |who: &str, index: u64, at: u64| crate::Rejected {
        registration: id(who),
        channel_index: index,
        address: grid_core::channel::MessageAddress::parse(format!("{:064x}", index * 1000 + at)).unwrap(),
        // Every reason, in turn: each reads back as itself, whatever its message says.
        reason: RejectReason::ALL[index as usize % RejectReason::ALL.len()],
        message: format!("reason {index}"),
        at: EpochMs::parse(at as i64).unwrap(),
    };
    let log = &stores.rejections;
    assert!(log.recent(10).await.unwrap().is_empty());
    for (who, index, at) in [("producer-0040", 1, 1_000), ("consumer-0040", 2, 3_000), ("producer-0040", 4, 2_000)] {
        log.record(&rejected(who, index, at)).await.unwrap();
    }
    let mut again = rejected("producer-0040", 1, 9_000);
    again.message = "later".to_owned();
    log.record(&again).await.unwrap();
    let of = |found: Vec<crate::Rejected>| {
        found.into_iter().map(|r| (r.registration.to_string(), r.channel_index)).collect::<Vec<_>>()
    };
    let producer = log.for_registration(&id("producer-0040"), 10).await.unwrap();
    assert_eq!(producer[1], rejected("producer-0040", 1, 1_000), "the first record is kept");
    assert_eq!(of(producer), [("producer-0040".to_owned(), 4), ("producer-0040".to_owned(), 1)]);
    for index in [0, 2, 3, 5, 6] {
        log.record(&rejected("consumer-0041", index, 500 + index)).await.unwrap();
    }
    let reasons: Vec<_> =
        log.for_registration(&id("consumer-0041"), 10).await.unwrap().into_iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [6, 5, 3, 2, 0].map(|i| RejectReason::ALL[i % RejectReason::ALL.len()]),
        "each reason as recorded"
    );
    let recent = log.recent(2).await.unwrap();
    assert_eq!(of(recent), [("consumer-0040".to_owned(), 2), ("producer-0040".to_owned(), 4)], "newest first, of all");
}
