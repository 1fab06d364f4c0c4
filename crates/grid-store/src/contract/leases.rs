//! The [`LeaseStore`](crate::LeaseStore) contract: one holder until it expires or lets go.

use super::market::*;
use super::ms;

pub async fn a_lease_is_held_by_one_holder_until_it_expires_or_is_released(stores: MarketStores) {
    assert!(stores.leases.acquire("batch-monitor", "run-a", ms(1_000), ms(1_000 + 500)).await.unwrap());
    assert!(!stores.leases.acquire("batch-monitor", "run-b", ms(1_200), ms(1_200 + 500)).await.unwrap());
    assert!(
        stores.leases.acquire("batch-monitor", "run-a", ms(1_300), ms(1_300 + 500)).await.unwrap(),
        "its holder renews it"
    );
    assert!(
        stores.leases.acquire("settlement", "run-b", ms(1_300), ms(1_300 + 500)).await.unwrap(),
        "another job's lease is another"
    );
    assert!(stores.leases.acquire("batch-monitor", "run-b", ms(1_800), ms(1_800 + 500)).await.unwrap(), "expired");
    stores.leases.release("batch-monitor", "run-a").await.unwrap();
    assert!(
        !stores.leases.acquire("batch-monitor", "run-c", ms(1_900), ms(1_900 + 500)).await.unwrap(),
        "only the holder releases"
    );
    stores.leases.release("batch-monitor", "run-b").await.unwrap();
    assert!(stores.leases.acquire("batch-monitor", "run-c", ms(1_900), ms(1_900 + 500)).await.unwrap());

    let racers: Vec<_> = (0..6)
        .map(|i| {
            let leases = stores.leases.clone();
            tokio::spawn(async move {
                leases.acquire("race", &format!("run-{i}"), ms(5_000), ms(5_000 + 1_000)).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1, "of racing runs one gets the lease");
}
