//! The `ChannelMessageStore` contract.

use std::sync::Arc;

use grid_core::channel::{
    AHEAD_OF_HEAD, ChannelSecrets, ChannelSeed, Command, Envelope, MessageAddress, UnclaimedChannels,
};
use grid_core::{ChannelRoot, EpochMs, RegistrationId, SideKey};

use crate::ConflictKind;
use crate::{ChannelMessageStore, Claim, Received, UnreadChannel};

type Channels = Arc<dyn ChannelMessageStore>;

/// The default bound on unclaimed channels, which these tests never reach.
const ANY: UnclaimedChannels = UnclaimedChannels::DEFAULT;

fn id(name: &str) -> RegistrationId {
    RegistrationId::parse(name).unwrap()
}

/// A channel with its first `count` messages sealed (not yet attached).
pub fn channel(seed: u8, count: u64) -> (ChannelSecrets, Vec<(MessageAddress, Envelope)>) {
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

pub async fn an_attached_envelope_reads_back(store: Channels) {
    let (_, messages) = channel(1, 1);
    let (address, envelope) = &messages[0];
    store.attach(address, envelope).await.unwrap();
    assert_eq!(store.get(address).await.unwrap().as_ref(), Some(envelope));
}

pub async fn an_address_is_write_once(store: Channels) {
    let (_, messages) = channel(2, 2);
    let (address, first) = &messages[0];
    store.attach(address, first).await.unwrap();
    let err = store.attach(address, &messages[1].1).await.unwrap_err();
    assert!(err.is_conflict(ConflictKind::Exists), "{err:?}");
    let again = store.attach(address, first).await.unwrap_err();
    assert!(again.is_conflict(ConflictKind::Exists), "even the same envelope is not written twice");
    assert_eq!(store.get(address).await.unwrap().as_ref(), Some(first));
}

pub async fn a_missing_address_reads_as_nothing(store: Channels) {
    let (_, messages) = channel(3, 1);
    assert_eq!(store.get(&messages[0].0).await.unwrap(), None);
}

pub async fn getting_many_returns_exactly_the_stored_ones(store: Channels) {
    let (_, messages) = channel(4, 100);
    for (address, envelope) in messages.iter().step_by(3) {
        store.attach(address, envelope).await.unwrap();
    }
    let addresses: Vec<MessageAddress> = messages.iter().map(|(a, _)| a.clone()).collect();
    let found = store.get_many(&addresses).await.unwrap();
    assert_eq!(found.len(), 34);
    for (i, (address, envelope)) in messages.iter().enumerate() {
        assert_eq!(found.get(address), (i % 3 == 0).then_some(envelope), "message {i}");
    }
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

pub async fn of_concurrent_attaches_to_one_address_exactly_one_wins(store: Channels) {
    let (_, messages) = channel(5, 8);
    let address = messages[0].0.clone();
    let attempts: Vec<_> = messages
        .iter()
        .map(|(_, envelope)| {
            let (store, address, envelope) = (store.clone(), address.clone(), envelope.clone());
            tokio::spawn(async move { (envelope.clone(), store.attach(&address, &envelope).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        let (envelope, result) = attempt.await.unwrap();
        match result {
            Ok(()) => winners.push(envelope),
            Err(e) if e.is_conflict(ConflictKind::Exists) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(store.get(&address).await.unwrap(), Some(winners.remove(0)));
}

pub async fn attaching_many_stores_the_free_addresses_and_leaves_taken_ones(store: Channels) {
    let (_, messages) = channel(7, 3);
    let (_, squatter) = channel(8, 1);
    // Someone else's envelope already sits at the second address.
    store.attach(&messages[1].0, &squatter[0].1).await.unwrap();
    let stored = store.attach_many(&messages).await.unwrap();
    assert_eq!(stored, [true, false, true]);
    assert_eq!(store.get(&messages[1].0).await.unwrap().as_ref(), Some(&squatter[0].1), "nothing overwritten");
    assert_eq!(store.get(&messages[2].0).await.unwrap().as_ref(), Some(&messages[2].1));
    assert!(store.attach_many(&[]).await.unwrap().is_empty());
}

/// The unread channels, all pages of them.
async fn all_unread(store: &Channels) -> Vec<UnreadChannel> {
    let mut found: Vec<UnreadChannel> = Vec::new();
    loop {
        let page = store.unread(found.last().map(|c| &c.root), 2).await.unwrap();
        if page.is_empty() {
            return found;
        }
        assert!(page.len() <= 2);
        found.extend(page);
    }
}

/// The unread channels' roots and heads.
async fn unread_heads(store: &Channels) -> Vec<(ChannelRoot, u64)> {
    all_unread(store).await.into_iter().map(|c| (c.root, c.head)).collect()
}

/// What the node does at `now`: receive the envelopes; whether each was stored.
async fn attach_at(store: &Channels, messages: &[(MessageAddress, Envelope)], now: EpochMs) -> Vec<bool> {
    store
        .receive(messages, now, UnclaimedChannels::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r != Received::Taken)
        .collect()
}

async fn attach_as_the_node(store: &Channels, messages: &[(MessageAddress, Envelope)]) -> Vec<bool> {
    attach_at(store, messages, EpochMs::parse(1_700_000_000_000).unwrap()).await
}

pub async fn receiving_says_which_envelope_turned_its_channel_unread(store: Channels) {
    let (secrets, messages) = channel(17, 5);
    let (_, other) = channel(18, 1);
    let root = secrets.access().root().clone();
    let now = EpochMs::parse(1_700_000_000_000).unwrap();
    let unread = |turned_unread| Received::Stored { turned_unread };
    let received =
        store.receive(&[messages[0].clone(), messages[1].clone(), other[0].clone()], now, ANY).await.unwrap();
    assert_eq!(received, [unread(true), unread(false), unread(true)], "the first of each channel");
    assert_eq!(store.receive(&messages[2..3], now, ANY).await.unwrap(), [unread(false)], "unread already: told before");
    assert!(!store.read_up_to(&root, 3).await.unwrap(), "caught up");
    assert_eq!(store.receive(&messages[3..4], now, ANY).await.unwrap(), [unread(true)], "read before: tell the reader");
    assert_eq!(store.receive(&messages[..1], now, ANY).await.unwrap(), [Received::Taken]);
    assert_eq!(store.get(&messages[0].0).await.unwrap().as_ref(), Some(&messages[0].1), "nothing overwritten");
}

/// Found by an attacker: one envelope at index 2^53−1 was taken, and its channel could
/// never be read to its head.
pub async fn an_envelope_too_far_past_its_channels_head_is_not_stored(store: Channels) {
    let secrets =
        ChannelSecrets::new(&ChannelSeed::from_bytes([21; 32]), SideKey::parse("ContractSideKey000").unwrap());
    let at = |i: u64| {
        let envelope = secrets.seal(i, Command::Hello.to_json().as_bytes(), [1; 12]).unwrap();
        (secrets.access().address(i), envelope)
    };
    let root = secrets.access().root().clone();
    let now = EpochMs::parse(1_700_000_000_000).unwrap();
    let far = (1u64 << 53) - 1;
    assert_eq!(store.claim(&root, &id("consumer-far"), None).await.unwrap(), Claim::Claimed);
    // Claimed, nothing stored: indexes below the window of 0 are taken.
    let received = store.receive(&[at(far), at(AHEAD_OF_HEAD), at(AHEAD_OF_HEAD - 1)], now, ANY).await.unwrap();
    let limit = AHEAD_OF_HEAD;
    assert_eq!(
        received,
        [Received::TooFar { limit }, Received::TooFar { limit }, Received::Stored { turned_unread: true }]
    );
    assert_eq!(store.get(&at(far).0).await.unwrap(), None, "nothing stored");
    assert_eq!(unread_heads(&store).await.into_iter().find(|(r, _)| *r == root), Some((root.clone(), AHEAD_OF_HEAD)));
    // From the head on, the window moves with it.
    let next = 2 * AHEAD_OF_HEAD - 1;
    assert_eq!(store.receive(&[at(next)], now, ANY).await.unwrap(), [Received::Stored { turned_unread: false }]);
    assert_eq!(store.receive(&[at(far)], now, ANY).await.unwrap(), [Received::TooFar { limit: 3 * AHEAD_OF_HEAD }]);
}

pub async fn marking_a_channel_read_says_whether_its_reader_is_still_behind(store: Channels) {
    let (secrets, messages) = channel(19, 4);
    let root = secrets.access().root().clone();
    attach_as_the_node(&store, &messages[..3]).await;
    assert!(store.read_up_to(&root, 2).await.unwrap(), "message 2 is unread");
    // Stored while the reader read: nobody told it, so it learns it here.
    attach_as_the_node(&store, &messages[3..4]).await;
    assert!(store.read_up_to(&root, 3).await.unwrap(), "message 3 came meanwhile");
    assert!(!store.read_up_to(&root, 4).await.unwrap(), "read to its head");
    let (unknown, _) = channel(20, 0);
    assert!(!store.read_up_to(unknown.access().root(), 1).await.unwrap(), "a channel with no head is not unread");
}

pub async fn a_channel_is_unread_until_its_reader_reaches_its_head(store: Channels) {
    let (secrets, messages) = channel(7, 5);
    let root = secrets.access().root().clone();
    assert!(all_unread(&store).await.is_empty(), "nothing stored, nothing unread");
    attach_as_the_node(&store, &messages[..3]).await;
    assert_eq!(unread_heads(&store).await, [(root.clone(), 3)]);
    store.read_up_to(&root, 2).await.unwrap();
    assert_eq!(unread_heads(&store).await, [(root.clone(), 3)], "one message is still unread");
    store.read_up_to(&root, 3).await.unwrap();
    assert!(all_unread(&store).await.is_empty(), "read to its head");
    attach_as_the_node(&store, &messages[4..5]).await;
    assert_eq!(unread_heads(&store).await, [(root.clone(), 5)], "a later message makes it unread again");
    attach_as_the_node(&store, &messages[3..4]).await;
    assert_eq!(unread_heads(&store).await, [(root.clone(), 5)], "an earlier index never lowers the head");
    assert_eq!(attach_as_the_node(&store, &messages[..1]).await, [false], "taken");
    store.read_up_to(&root, 5).await.unwrap();
    assert!(all_unread(&store).await.is_empty());
    store.read_up_to(&root, 4).await.unwrap();
    assert!(all_unread(&store).await.is_empty(), "reading never goes back");
}

pub async fn a_channel_is_unread_since_its_reader_last_caught_up(store: Channels) {
    let (secrets, messages) = channel(9, 4);
    let root = secrets.access().root().clone();
    let at = |ms: i64| EpochMs::parse(1_700_000_000_000 + ms).unwrap();
    attach_at(&store, &messages[..2], at(0)).await;
    attach_at(&store, &messages[2..3], at(5_000)).await;
    let since = |channels: Vec<UnreadChannel>| channels.into_iter().map(|c| c.since).collect::<Vec<_>>();
    assert_eq!(since(all_unread(&store).await), [Some(at(0))], "behind since its first unread message");
    store.read_up_to(&root, 2).await.unwrap();
    assert_eq!(since(all_unread(&store).await), [Some(at(0))], "not caught up yet");
    store.read_up_to(&root, 3).await.unwrap();
    attach_at(&store, &messages[3..4], at(9_000)).await;
    assert_eq!(since(all_unread(&store).await), [Some(at(9_000))], "behind again, from the new message");
}

pub async fn unread_channels_come_a_page_at_a_time_each_once_in_root_order(store: Channels) {
    let mut roots = Vec::new();
    for seed in 10..15 {
        let (secrets, messages) = channel(seed, 1);
        attach_as_the_node(&store, &messages).await;
        roots.push((secrets.access().root().clone(), 1));
    }
    roots.sort();
    assert_eq!(unread_heads(&store).await, roots);
}

pub async fn a_channel_the_node_did_not_write_has_no_head(store: Channels) {
    let (_, messages) = channel(16, 2);
    store.attach_many(&messages).await.unwrap();
    assert!(all_unread(&store).await.is_empty(), "the grid's own return channels are never unread");
}

/// Found by an attacker: a `batch-put` of 100 messages for 100 new roots was stored, each
/// kept for good (260 GB an hour at 16 KB).
pub async fn an_unclaimed_channel_takes_only_its_first_indexes_until_it_is_claimed(store: Channels) {
    let (secrets, messages) = channel(22, 40);
    let root = secrets.access().root().clone();
    let now = EpochMs::parse(1_700_000_000_000).unwrap();
    let last = UnclaimedChannels::INDEXES as usize - 1;
    let limit = UnclaimedChannels::INDEXES;
    let received = store
        .receive(&[messages[0].clone(), messages[last].clone(), messages[last + 1].clone()], now, ANY)
        .await
        .unwrap();
    assert_eq!(received[2], Received::TooFar { limit }, "past an unclaimed channel's indexes");
    assert!(matches!(received[1], Received::Stored { .. }));
    assert_eq!(store.receive(&messages[last + 1..last + 2], now, ANY).await.unwrap(), [Received::TooFar { limit }]);
    assert_eq!(store.get(&messages[last + 1].0).await.unwrap(), None, "nothing stored");
    assert_eq!(store.claim(&root, &id("consumer-late"), None).await.unwrap(), Claim::Claimed);
    let received = store.receive(&messages[last + 1..], now, ANY).await.unwrap();
    assert!(received.iter().all(|r| matches!(r, Received::Stored { .. })), "claimed, it takes them all: {received:?}");
}

pub async fn the_node_opens_only_so_many_unclaimed_channels_a_day(store: Channels) {
    let two = UnclaimedChannels::new(2).unwrap();
    let now = EpochMs::parse(1_700_000_000_000).unwrap();
    let channels: Vec<_> = (30..36).map(|seed| channel(seed, 2)).collect();
    let root = |i: usize| channels[i].0.access().root().clone();
    let first = |i: usize| channels[i].1[..1].to_vec();
    // A claimed root is not unclaimed: it takes nothing of the day's count.
    store.claim(&root(0), &id("consumer-claimed"), None).await.unwrap();
    assert!(matches!(store.receive(&first(0), now, two).await.unwrap()[..], [Received::Stored { .. }]));
    for i in 1..3 {
        assert!(
            matches!(store.receive(&first(i), now, two).await.unwrap()[..], [Received::Stored { .. }]),
            "channel {i}"
        );
    }
    let both = [first(3), first(4)].concat();
    assert_eq!(store.receive(&both, now, two).await.unwrap(), [Received::Full, Received::Full], "two a day");
    assert_eq!(store.get(&channels[3].1[0].0).await.unwrap(), None, "nothing stored");
    // An open unclaimed channel still takes its indexes.
    assert!(matches!(store.receive(&channels[1].1[1..], now, two).await.unwrap()[..], [Received::Stored { .. }]));
    // Claiming one of today's makes room for another.
    store.claim(&root(1), &id("consumer-one"), None).await.unwrap();
    assert!(matches!(store.receive(&first(3), now, two).await.unwrap()[..], [Received::Stored { .. }]));
    assert_eq!(store.receive(&first(4), now, two).await.unwrap(), [Received::Full]);
    // The next day has its own count.
    let tomorrow = EpochMs::parse(1_700_000_000_000 + 86_400_000).unwrap();
    assert!(matches!(store.receive(&first(4), tomorrow, two).await.unwrap()[..], [Received::Stored { .. }]));
}

pub async fn an_unclaimed_channel_expires_with_its_envelopes_and_a_claimed_one_never(store: Channels) {
    let two_days_ago = EpochMs::parse(EpochMs::now().get() as i64 - 2 * 86_400_000).unwrap();
    let (unclaimed, forgotten) = channel(40, 3);
    let (claimed_later, kept) = channel(41, 3);
    let (source, history) = channel(42, 3);
    store.receive(&forgotten, two_days_ago, ANY).await.unwrap();
    store.receive(&kept, two_days_ago, ANY).await.unwrap();
    store.claim(claimed_later.access().root(), &id("consumer-kept"), None).await.unwrap();
    // A producer's source, released: what it took while claimed stays.
    let producer = id("producer-released");
    store.claim(source.access().root(), &producer, Some(10)).await.unwrap();
    store.receive(&history, two_days_ago, ANY).await.unwrap();
    assert!(store.release(source.access().root(), &producer, two_days_ago).await.unwrap());

    assert_eq!(store.forget_expired(EpochMs::now(), 100).await.unwrap(), 2, "the unclaimed and the released");
    for (address, _) in &forgotten {
        assert_eq!(store.get(address).await.unwrap(), None, "expired with its channel");
    }
    for (address, envelope) in kept.iter().chain(&history) {
        assert_eq!(store.get(address).await.unwrap().as_ref(), Some(envelope));
    }
    assert!(!unread_heads(&store).await.iter().any(|(root, _)| root == unclaimed.access().root()), "its head went too");
    assert_eq!(store.forget_expired(EpochMs::now(), 100).await.unwrap(), 0, "once");
    // Its root may open again, from its first index.
    let received = store.receive(&forgotten[..1], EpochMs::now(), ANY).await.unwrap();
    assert!(matches!(received[..], [Received::Stored { .. }]), "{received:?}");
}

pub async fn a_root_is_claimed_once_and_a_producer_claims_at_most_its_limit(store: Channels) {
    let roots: Vec<ChannelRoot> = (50..54).map(|seed| channel(seed, 0).0.access().root().clone()).collect();
    let (producer, other) = (id("producer-claims"), id("producer-other"));
    assert_eq!(store.claim(&roots[0], &producer, Some(2)).await.unwrap(), Claim::Claimed);
    assert_eq!(store.claim(&roots[0], &producer, Some(2)).await.unwrap(), Claim::Already);
    assert_eq!(store.claim(&roots[0], &other, Some(2)).await.unwrap(), Claim::Taken { by: producer.clone() });
    assert_eq!(store.claim(&roots[1], &producer, Some(2)).await.unwrap(), Claim::Claimed);
    assert_eq!(store.claim(&roots[2], &producer, Some(2)).await.unwrap(), Claim::TooMany { most: 2 });
    assert!(!store.release(&roots[0], &other, EpochMs::now()).await.unwrap(), "not its claim");
    assert!(store.release(&roots[0], &producer, EpochMs::now()).await.unwrap());
    assert_eq!(store.claim(&roots[2], &producer, Some(2)).await.unwrap(), Claim::Claimed, "room again");
    assert_eq!(store.claim(&roots[3], &other, Some(2)).await.unwrap(), Claim::Claimed, "each its own count");
}
