//! The [`SignInLog`] contract: revocations hold until their time, attempts count per
//! client and window.

use std::sync::Arc;

use super::ms;
use crate::SignInLog;

const NOW: u64 = 1_800_000_000_000;

pub async fn a_revoked_session_is_revoked_until_its_time_and_others_are_not(log: Arc<dyn SignInLog>) {
    assert!(!log.is_revoked("s-1", ms(NOW)).await.unwrap());
    log.revoke("s-1", ms(NOW + 60_000), ms(NOW)).await.unwrap();
    log.revoke("s-1", ms(NOW + 60_000), ms(NOW)).await.unwrap();
    assert!(log.is_revoked("s-1", ms(NOW)).await.unwrap());
    assert!(log.is_revoked("s-1", ms(NOW + 59_999)).await.unwrap());
    assert!(!log.is_revoked("s-1", ms(NOW + 60_000)).await.unwrap(), "past its time it would have expired anyway");
    assert!(!log.is_revoked("s-2", ms(NOW)).await.unwrap());
}

pub async fn attempts_count_per_client_and_window(log: Arc<dyn SignInLog>) {
    let window = ms(NOW + 300_000);
    for expected in 1..=3 {
        assert_eq!(log.count_failure("10.0.0.1", window, ms(NOW)).await.unwrap(), expected);
    }
    assert_eq!(log.count_failure("10.0.0.2", window, ms(NOW)).await.unwrap(), 1, "another client");
    assert_eq!(log.count_failure("10.0.0.1", ms(NOW + 600_000), window).await.unwrap(), 1, "the next window");
}

pub async fn failures_read_back_per_window_and_are_forgotten_on_request(log: Arc<dyn SignInLog>) {
    let window = ms(NOW + 300_000);
    assert_eq!(log.failures("10.0.0.3", window).await.unwrap(), 0);
    log.count_failure("10.0.0.3", window, ms(NOW)).await.unwrap();
    log.count_failure("10.0.0.3", window, ms(NOW)).await.unwrap();
    assert_eq!(log.failures("10.0.0.3", window).await.unwrap(), 2);
    assert_eq!(log.failures("10.0.0.3", ms(NOW + 600_000)).await.unwrap(), 0, "the next window starts afresh");
    log.forget_failures("10.0.0.3", window).await.unwrap();
    assert_eq!(log.failures("10.0.0.3", window).await.unwrap(), 0);
    assert_eq!(log.count_failure("10.0.0.3", window, ms(NOW)).await.unwrap(), 1);
}

pub async fn concurrent_attempts_are_each_counted(log: Arc<dyn SignInLog>) {
    let window = ms(NOW + 300_000);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { log.count_failure("10.0.0.9", window, ms(NOW)).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<u32>>(), "no attempt is lost or counted twice");
}
