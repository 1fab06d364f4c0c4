//! The [`AccountStore`](crate::AccountStore) contract: entries applied once, statements,
//! claims and payouts settled once, the monitor's view of batches. Run with the money
//! engine's other stores (`market_contract!`), on the same factory.

use grid_core::books::{
    AccountEntry, ClaimResolution, Cover, GridEntry, PaymentClaim, PayoutRecord, PayoutResolution, StatementLine,
    StatementRange,
};
use grid_core::{EpochMs, Iota, ItemType, Wh};

use super::market::*;
use super::ms;

pub async fn account_entries_apply_once_per_period(stores: MarketStores) {
    let entries = [entry("consumer-0009", 165, 0), entry("producer-0009", 0, 146)];
    let first = GridEntry { fee: Iota::new(60), savings: Iota::new(40), gains: 25 };
    let second = GridEntry { fee: Iota::new(2), savings: Iota::new(3), gains: -30 };
    stores.accounts.apply(at(PERIOD), &entries, first).await.unwrap();
    stores.accounts.apply(at(PERIOD), &entries, first).await.unwrap();
    stores.accounts.apply(at(PERIOD + LENGTH), &[entry("consumer-0009", 10, 0)], second).await.unwrap();
    stores.accounts.apply(at(PERIOD), &entries, first).await.unwrap();
    let totals = stores.accounts.totals().await.unwrap();
    assert_eq!(
        (totals.fees, totals.savings, totals.gains),
        (Iota::new(62), Iota::new(43), -5),
        "each period's fee, savings and gains once (gains may be negative)"
    );
    let consumer = stores.accounts.get(&id("consumer-0009")).await.unwrap().unwrap();
    assert_eq!(
        (consumer.billed, consumer.last_period, consumer.owed(), consumer.energy, consumer.matched),
        (Iota::new(175), Some(at(PERIOD + LENGTH)), Iota::new(175), Wh::new(1750), Wh::new(1750))
    );
    let producer = stores.accounts.get(&id("producer-0009")).await.unwrap().unwrap();
    assert_eq!(
        (producer.entitled, producer.last_period, producer.energy, producer.matched, producer.unmatched()),
        (Iota::new(146), Some(at(PERIOD)), Wh::new(1022), Wh::new(730), Wh::new(292))
    );
    assert_eq!(stores.accounts.get(&id("nobody-00009")).await.unwrap(), None);
}

pub async fn a_members_statement_lines_are_written_with_its_entries_and_read_by_range(stores: MarketStores) {
    // A prosumer: bought and sold in one period, only sold in the next.
    let both = |period: u64, charge: u64, gain: i64| AccountEntry {
        registration: id("prosumer-0030"),
        payment_address: Some(address("wallet-0030")),
        energy: Wh::new(3000),
        matched: Wh::new(900),
        line: StatementLine {
            kind: Some(ItemType::Prosumer),
            self_consumed: Wh::new(500),
            used: Wh::new(1200),
            local: Wh::new(400),
            imported: Wh::new(300),
            charge: Iota::new(charge),
            bid: Some(price(110)),
            savings: Iota::new(8),
            produced: Wh::new(1800),
            offered: Wh::new(1300),
            matched: Wh::new(500),
            exported: Wh::new(800),
            allocation: Iota::new(41),
            ask: Some(price(90)),
            gain,
            ..StatementLine::blank(at(period), price(100), price(120), price(40))
        },
    };
    let (first, second) = (both(PERIOD, 40, 21), both(PERIOD + LENGTH, 0, -3));
    stores.accounts.apply(at(PERIOD), std::slice::from_ref(&first), GridEntry::default()).await.unwrap();
    stores.accounts.apply(at(PERIOD), std::slice::from_ref(&first), GridEntry::default()).await.unwrap();
    let neighbour = entry("consumer-0030", 55, 0);
    stores.accounts.apply(at(PERIOD + LENGTH), &[second.clone(), neighbour], GridEntry::default()).await.unwrap();

    let range = |from: u64, to: u64| StatementRange::parse(Some(ms(from)), Some(ms(to)), ms(to)).unwrap();
    let lines = |from, to| {
        let accounts = stores.accounts.clone();
        async move { accounts.statement_lines(&id("prosumer-0030"), range(from, to)).await.unwrap() }
    };
    assert_eq!(lines(PERIOD, PERIOD + 2 * LENGTH).await, [first.line.clone(), second.line.clone()], "once each");
    assert_eq!(lines(PERIOD, PERIOD + LENGTH).await, std::slice::from_ref(&first.line), "to is exclusive");
    assert_eq!(lines(PERIOD + 1, PERIOD + 2 * LENGTH).await, [second.line], "from is inclusive");
    assert_eq!(lines(PERIOD + 2 * LENGTH, PERIOD + 3 * LENGTH).await, []);
    let nobody = id("consumer-0031");
    let lines = stores.accounts.statement_lines(&nobody, range(PERIOD, PERIOD + 2 * LENGTH)).await.unwrap();
    assert_eq!(lines, [], "nothing of another's");
}

pub async fn a_payment_claim_is_pending_once_per_consumer_and_batch(stores: MarketStores) {
    let claim = claim("consumer-0010", "batch-0001", 90);
    stores.accounts.apply(at(PERIOD), &[entry("consumer-0010", 100, 0)], GridEntry::default()).await.unwrap();
    assert!(stores.accounts.claim_payment(&claim).await.unwrap());
    assert!(!stores.accounts.claim_payment(&claim).await.unwrap(), "a consumer claims a batch once");
    let mut by_another = claim.clone();
    by_another.registration = id("consumer-0011");
    assert!(stores.accounts.claim_payment(&by_another).await.unwrap(), "another's claim does not block this one");
    let account = stores.accounts.get(&id("consumer-0010")).await.unwrap().unwrap();
    assert_eq!((account.pending, account.owed()), (Iota::new(90), Iota::new(10)));
    assert_eq!(stores.accounts.get(&id("consumer-0011")).await.unwrap().unwrap().pending, Iota::new(90));
}

pub async fn a_verified_claim_pays_the_bill_and_funds_the_grid_once(stores: MarketStores) {
    stores.accounts.apply(at(PERIOD), &[entry("consumer-0020", 300, 0)], GridEntry::fee(Iota::new(60))).await.unwrap();
    let claim = |batch: &str, amount| claim("consumer-0020", batch, amount);
    assert!(stores.accounts.claim_payment(&claim("pay-a", 200)).await.unwrap());
    assert!(stores.accounts.claim_payment(&claim("pay-b", 50)).await.unwrap());
    let pending: Vec<String> = due_ids(&stores, EpochMs::MAX).await;
    assert_eq!(pending.len(), 2);
    assert!(pending.contains(&"pay-a".to_owned()) && pending.contains(&"pay-b".to_owned()));

    // The batch paid two of the grid's addresses: both are credited, and their sum.
    let paid = verified(&[("grid-7", 7, 150), ("grid-8", 8, 60)]);
    assert!(stores.accounts.resolve_claim(&claim("pay-a", 200), &paid).await.unwrap());
    assert!(!stores.accounts.resolve_claim(&claim("pay-a", 200), &paid).await.unwrap(), "once");
    let rejected = ClaimResolution::Rejected { reason: "not on the ledger".into() };
    assert!(stores.accounts.resolve_claim(&claim("pay-b", 50), &rejected).await.unwrap());

    let account = stores.accounts.get(&id("consumer-0020")).await.unwrap().unwrap();
    assert_eq!((account.paid, account.pending, account.owed()), (Iota::new(210), Iota::ZERO, Iota::new(90)));
    let totals = stores.accounts.totals().await.unwrap();
    assert_eq!((totals.paid_in, totals.fees, totals.cash()), (Iota::new(210), Iota::new(60), Iota::new(150)));
    let funds = stores.accounts.funds().await.unwrap();
    assert_eq!(
        funds,
        vec![
            crate::Funds { address: address("grid-7"), seq: 7, available: Iota::new(150) },
            crate::Funds { address: address("grid-8"), seq: 8, available: Iota::new(60) },
        ]
    );
    assert!(stores.accounts.due_batches(EpochMs::LATEST, 10).await.unwrap().is_empty());
}

pub async fn a_payout_is_recorded_once_pays_each_period_to_its_address_and_settles_either_way(stores: MarketStores) {
    use grid_core::ledger::LedgerBatch;
    let producer = id("producer-0021");
    // Two periods, each named its own wallet.
    let first = [entry_at("producer-0021", 0, 80, "wallet-a"), entry("consumer-0021", 100, 0)];
    stores.accounts.apply(at(PERIOD), &first, GridEntry::fee(Iota::new(20))).await.unwrap();
    stores
        .accounts
        .apply(at(PERIOD + LENGTH), &[entry_at("producer-0021", 0, 30, "wallet-b")], GridEntry::default())
        .await
        .unwrap();
    let claim = claim("consumer-0021", "pay-c", 130);
    stores.accounts.claim_payment(&claim).await.unwrap();
    stores.accounts.resolve_claim(&claim, &verified(&[("grid-3", 3, 130)])).await.unwrap();

    let unpaid = stores.accounts.unpaid().await.unwrap();
    assert_eq!(unpaid.len(), 1);
    let owed: Vec<(u64, &str, u64)> =
        unpaid[0].owed.iter().map(|e| (e.period.get(), e.address.as_str(), e.unpaid.get())).collect();
    assert_eq!(owed, [(PERIOD, "wallet-a", 80), (PERIOD + LENGTH, "wallet-b", 30)]);
    assert_eq!(
        (unpaid[0].producer.clone(), unpaid[0].total(), unpaid[0].paid_before),
        (producer.clone(), Iota::new(110), Iota::ZERO)
    );

    // All of the first period and 10 of the second: one batch, a transfer per address.
    let covers = vec![
        Cover { period: at(PERIOD), address: address("wallet-a"), amount: Iota::new(80) },
        Cover { period: at(PERIOD + LENGTH), address: address("wallet-b"), amount: Iota::new(10) },
    ];
    let payout = |paid_before: u64, refused: u64| {
        let to = grid_core::books::destinations(&covers);
        PayoutRecord {
            batch: LedgerBatch::payout(
                &producer,
                Iota::new(paid_before),
                refused,
                &[(address("grid-3"), Iota::new(90))],
                &to,
            ),
            producer: producer.clone(),
            amount: Iota::new(90),
            covers: covers.clone(),
            created: EpochMs::parse(1_795_860_000_000).unwrap(),
        }
    };
    let first_try = payout(0, 0);
    assert_eq!(first_try.batch.transfers.len(), 2);
    assert!(stores.accounts.record_payout(&first_try).await.unwrap());
    assert!(!stores.accounts.record_payout(&first_try).await.unwrap(), "a batch id is recorded once");
    let mut overdrawn = payout(90, 0);
    overdrawn.batch.id = grid_core::BatchId::parse("payout-overdrawn").unwrap();
    assert!(!stores.accounts.record_payout(&overdrawn).await.unwrap(), "a period is never paid beyond what it is owed");
    let left = stores.accounts.unpaid().await.unwrap();
    let owed: Vec<(u64, u64)> = left[0].owed.iter().map(|e| (e.period.get(), e.unpaid.get())).collect();
    assert_eq!((owed, left[0].paid_before), (vec![(PERIOD + LENGTH, 20)], Iota::new(90)));
    assert_eq!(stores.accounts.totals().await.unwrap().cash(), Iota::new(20));
    assert_eq!(stores.accounts.funds().await.unwrap().first().map(|f| f.available), Some(Iota::new(40)));
    let due = stores.accounts.due_batches(EpochMs::LATEST, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|b| b.watched.clone()).collect::<Vec<_>>(),
        vec![crate::Watched::Payout(first_try.clone())]
    );
    let pending = crate::PendingBatches { claims: 0, payouts: 1 };
    assert_eq!(stores.accounts.pending_batches().await.unwrap(), pending, "counted while it is pending");

    // Refused: the money and each period's debt come back, and the next payout is a new batch.
    let refused = vec!["insufficient funds".to_owned()];
    let resolution = PayoutResolution::Refused { reasons: refused.clone() };
    assert!(stores.accounts.resolve_payout(&first_try.batch.id, &resolution).await.unwrap());
    assert!(!stores.accounts.resolve_payout(&first_try.batch.id, &resolution).await.unwrap(), "once");
    let failed = stores.accounts.batches(Some(grid_core::books::BatchState::Invalid), 10).await.unwrap();
    assert_eq!((failed.len(), failed[0].reasons.clone()), (1, refused.clone()), "kept as failed with its reasons");
    let counts = stores.accounts.batch_counts().await.unwrap();
    assert_eq!((counts.invalid, counts.pending), (1, 0), "a refused payout is counted as failed, no longer pending");
    assert_eq!(stores.accounts.pending_batches().await.unwrap(), crate::PendingBatches::default());
    let unpaid = stores.accounts.unpaid().await.unwrap();
    let owed: Vec<(u64, &str, u64)> =
        unpaid[0].owed.iter().map(|e| (e.period.get(), e.address.as_str(), e.unpaid.get())).collect();
    assert_eq!((owed, unpaid[0].refused), (vec![(PERIOD, "wallet-a", 80), (PERIOD + LENGTH, "wallet-b", 30)], 1));
    assert_eq!(stores.accounts.totals().await.unwrap().cash(), Iota::new(110));

    let second_try = payout(0, 1);
    assert_ne!(second_try.batch.id, first_try.batch.id);
    assert!(stores.accounts.record_payout(&second_try).await.unwrap());
    assert!(stores.accounts.resolve_payout(&second_try.batch.id, &PayoutResolution::Committed).await.unwrap());
    let account = stores.accounts.get(&producer).await.unwrap().unwrap();
    assert_eq!(
        (account.paid_out, account.payout_pending, account.unpaid()),
        (Iota::new(90), Iota::ZERO, Iota::new(20))
    );
    assert!(stores.accounts.due_batches(EpochMs::LATEST, 10).await.unwrap().is_empty());
    let unpaid = stores.accounts.unpaid().await.unwrap();
    assert_eq!(unpaid[0].owed.iter().map(|e| e.unpaid.get()).collect::<Vec<_>>(), [20]);
}

pub async fn the_monitor_history_of_a_batch_decides_when_it_is_due_and_what_the_operator_sees(stores: MarketStores) {
    use grid_core::books::BatchState;
    let claim = |batch: &str, at: u64| PaymentClaim {
        registration: id("consumer-0030"),
        batch_id: grid_core::BatchId::parse(batch).unwrap(),
        amount: Iota::new(5),
        channel_index: 1,
        claimed: EpochMs::parse(at as i64).unwrap(),
    };
    stores.accounts.claim_payment(&claim("late", 2_000)).await.unwrap();
    stores.accounts.claim_payment(&claim("early", 1_000)).await.unwrap();
    assert_eq!(due_ids(&stores, 10_000).await, ["early", "late"], "never checked: oldest first");

    let early = crate::Watched::Claim(claim("early", 1_000));
    stores.accounts.checked(&early, ms(5_000), ms(8_000), false).await.unwrap();
    assert_eq!(due_ids(&stores, 6_000).await, ["late"], "not due before its next check");
    assert_eq!(due_ids(&stores, 8_000).await, ["late", "early"], "least recently checked first");

    stores.accounts.checked(&early, ms(9_000), ms(9_000), true).await.unwrap();
    let due = stores.accounts.due_batches(ms(10_000), 10).await.unwrap();
    let early_batch = due.iter().find(|b| b.watched == early).unwrap();
    assert_eq!((early_batch.times_checked, early_batch.last_checked, early_batch.stalled), (2, Some(ms(9_000)), true));

    let stalled = stores.accounts.batches(Some(BatchState::Stalled), 10).await.unwrap();
    assert_eq!(stalled.iter().map(|b| b.id.to_string()).collect::<Vec<_>>(), ["early"]);
    assert_eq!(
        stores.accounts.batches(Some(BatchState::Pending), 10).await.unwrap().len(),
        2,
        "stalled batches are still pending"
    );
    let all = stores.accounts.batches(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|b| (b.id.to_string(), b.status)).collect::<Vec<_>>(),
        [("late".to_owned(), BatchState::Pending), ("early".to_owned(), BatchState::Stalled)]
    );
    assert_eq!(
        stores.accounts.batch_counts().await.unwrap(),
        crate::BatchCounts { pending: 1, stalled: 1, ..Default::default() },
        "counted as shown"
    );
    let pending = crate::PendingBatches { claims: 2, payouts: 0 };
    assert_eq!(stores.accounts.pending_batches().await.unwrap(), pending, "stalled batches are still pending");
}

pub async fn accounts_are_read_many_at_once(stores: MarketStores) {
    let entries = [entry("consumer-0301", 50, 0), entry("producer-0302", 0, 40)];
    stores.accounts.apply(at(PERIOD), &entries, GridEntry::fee(Iota::new(10))).await.unwrap();
    let mut found =
        stores.accounts.get_many(&[id("producer-0302"), id("nobody-0000"), id("consumer-0301")]).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let found: Vec<(String, u64, u64)> =
        found.into_iter().map(|(id, a)| (id.to_string(), a.billed.get(), a.entitled.get())).collect();
    assert_eq!(found, [("consumer-0301".to_owned(), 50, 0), ("producer-0302".to_owned(), 0, 40)]);
}
