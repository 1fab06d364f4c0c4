//! The `ChannelLedger` contract.

use std::sync::Arc;

use grid_core::SideKey;
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command, Envelope, MessageAddress};

use crate::{ChannelLedger, StoreError};

type Ledger = Arc<dyn ChannelLedger>;

/// A channel with its first `count` messages sealed (not yet attached).
fn channel(seed: u8, count: u64) -> (ChannelSecrets, Vec<(MessageAddress, Envelope)>) {
    let secrets =
        ChannelSecrets::new(&ChannelSeed::from_bytes([seed; 32]), SideKey::parse("ContractSideKey000").unwrap());
    let messages = (0..count)
        .map(|i| {
            let envelope = secrets.seal(i, Command::Hello.to_json().as_bytes(), [i as u8; 12]).unwrap();
            (secrets.access().address(i), envelope)
        })
        .collect();
    (secrets, messages)
}

pub async fn an_attached_envelope_reads_back(ledger: Ledger) {
    let (_, messages) = channel(1, 1);
    let (address, envelope) = &messages[0];
    ledger.attach(address, envelope).await.unwrap();
    assert_eq!(ledger.get(address).await.unwrap().as_ref(), Some(envelope));
}

pub async fn an_address_is_write_once(ledger: Ledger) {
    let (_, messages) = channel(2, 2);
    let (address, first) = &messages[0];
    ledger.attach(address, first).await.unwrap();
    let err = ledger.attach(address, &messages[1].1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let again = ledger.attach(address, first).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "even the same envelope is not written twice");
    assert_eq!(ledger.get(address).await.unwrap().as_ref(), Some(first));
}

pub async fn a_missing_address_reads_as_nothing(ledger: Ledger) {
    let (_, messages) = channel(3, 1);
    assert_eq!(ledger.get(&messages[0].0).await.unwrap(), None);
}

pub async fn getting_many_returns_exactly_the_stored_ones(ledger: Ledger) {
    let (_, messages) = channel(4, 100);
    for (address, envelope) in messages.iter().step_by(3) {
        ledger.attach(address, envelope).await.unwrap();
    }
    let addresses: Vec<MessageAddress> = messages.iter().map(|(a, _)| a.clone()).collect();
    let found = ledger.get_many(&addresses).await.unwrap();
    assert_eq!(found.len(), 34);
    for (i, (address, envelope)) in messages.iter().enumerate() {
        assert_eq!(found.get(address), (i % 3 == 0).then_some(envelope), "message {i}");
    }
    assert!(ledger.get_many(&[]).await.unwrap().is_empty());
}

pub async fn of_concurrent_attaches_to_one_address_exactly_one_wins(ledger: Ledger) {
    let (_, messages) = channel(5, 8);
    let address = messages[0].0.clone();
    let attempts: Vec<_> = messages
        .iter()
        .map(|(_, envelope)| {
            let (ledger, address, envelope) = (ledger.clone(), address.clone(), envelope.clone());
            tokio::spawn(async move { (envelope.clone(), ledger.attach(&address, &envelope).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        let (envelope, result) = attempt.await.unwrap();
        match result {
            Ok(()) => winners.push(envelope),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(ledger.get(&address).await.unwrap(), Some(winners.remove(0)));
}

pub async fn attaching_many_stores_the_free_addresses_and_leaves_taken_ones(ledger: Ledger) {
    let (_, messages) = channel(7, 3);
    let (_, squatter) = channel(8, 1);
    // Someone else's envelope already sits at the second address.
    ledger.attach(&messages[1].0, &squatter[0].1).await.unwrap();
    let stored = ledger.attach_many(&messages).await.unwrap();
    assert_eq!(stored, [true, false, true]);
    assert_eq!(ledger.get(&messages[1].0).await.unwrap().as_ref(), Some(&squatter[0].1), "nothing overwritten");
    assert_eq!(ledger.get(&messages[2].0).await.unwrap().as_ref(), Some(&messages[2].1));
    assert!(ledger.attach_many(&[]).await.unwrap().is_empty());
}
