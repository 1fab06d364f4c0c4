//! The development ledger over HTTP.

use std::time::Duration;

use dev_ledger::{LedgerOptions, LedgerStore};
use serde_json::{Value, json};

struct Ledger {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Ledger {
    async fn start(options: LedgerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = LedgerStore::open(dir.path()).unwrap();
        Self::over(store, dir, options).await
    }

    async fn over(store: LedgerStore, dir: tempfile::TempDir, options: LedgerOptions) -> Self {
        let app = dev_ledger::router(store, options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, http: reqwest::Client::new(), _dir: dir }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, method: &str, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).json(&body);
        if let Some(key) = key {
            request = request.header("x-account-key", key);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// Submits `batch` as its payers would: each has claimed its account with [`KEY`].
    async fn submit(&self, batch: Value) -> u16 {
        for transfer in batch["transfers"].as_array().into_iter().flatten() {
            let path = format!("/accounts/{}/key", transfer["from"].as_str().unwrap_or_default());
            self.send("PUT", &path, None, json!({"key": KEY})).await;
        }
        self.send("POST", "/batches", Some(KEY), batch).await.0
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn balance(&self, address: &str) -> u64 {
        self.get(&format!("/accounts/{address}")).await.1["balance"].as_u64().unwrap()
    }

    async fn status(&self, id: &str) -> Value {
        self.get(&format!("/batch_statuses?id={id}")).await.1["data"][0].clone()
    }
}

const KEY: &str = "KeyOfEveryPayerInTheseTests";

fn instant() -> LedgerOptions {
    LedgerOptions { final_after: Duration::ZERO, ..LedgerOptions::default() }
}

fn batch(id: &str, from: &str, to: &str, amount: u64) -> Value {
    json!({"id": id, "transfers": [{"from": from, "to": to, "amount": amount}]})
}

#[tokio::test]
async fn a_funded_batch_commits_once_and_moves_the_money() {
    let ledger = Ledger::start(instant()).await;
    assert_eq!(ledger.post("/accounts/consumer-0001/deposit", json!({"amount": 500})).await.1["balance"], 500);
    assert_eq!(ledger.submit(batch("pay-1", "consumer-0001", "grid-7", 120)).await, 202);
    assert_eq!(ledger.status("pay-1").await["status"], "COMMITTED");
    // The same batch again is accepted and not applied twice.
    assert_eq!(ledger.submit(batch("pay-1", "consumer-0001", "grid-7", 120)).await, 202);
    assert_eq!(ledger.status("pay-1").await["status"], "COMMITTED");
    assert_eq!((ledger.balance("consumer-0001").await, ledger.balance("grid-7").await), (380, 120));
    let (status, body) = ledger.get("/batches/pay-1").await;
    assert_eq!((status, &body["status"], &body["transfers"][0]["amount"]), (200, &json!("COMMITTED"), &json!(120)));
}

#[tokio::test]
async fn the_same_id_with_other_transfers_is_a_conflict() {
    let ledger = Ledger::start(instant()).await;
    ledger.submit(batch("b-1", "a", "b", 1)).await;
    assert_eq!(ledger.submit(batch("b-1", "a", "b", 2)).await, 409);
}

#[tokio::test]
async fn a_batch_its_payer_cannot_cover_turns_invalid_and_moves_nothing() {
    let ledger = Ledger::start(instant()).await;
    ledger.post("/accounts/poor-0001/deposit", json!({"amount": 10})).await;
    ledger.submit(batch("b-2", "poor-0001", "grid", 11)).await;
    let status = ledger.status("b-2").await;
    assert_eq!(status["status"], "INVALID");
    assert_eq!(status["invalid_transactions"][0]["message"], "insufficient funds: poor-0001 cannot pay 11");
    assert_eq!(ledger.balance("poor-0001").await, 10);
}

#[tokio::test]
async fn a_batch_is_pending_until_its_delay_has_passed() {
    let ledger =
        Ledger::start(LedgerOptions { final_after: Duration::from_millis(300), ..LedgerOptions::default() }).await;
    ledger.post("/accounts/a-000001/deposit", json!({"amount": 5})).await;
    ledger.submit(batch("b-3", "a-000001", "b", 5)).await;
    assert_eq!(ledger.status("b-3").await["status"], "PENDING");
    assert_eq!(ledger.balance("a-000001").await, 5);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(ledger.status("b-3").await["status"], "COMMITTED");
}

#[tokio::test]
async fn statuses_of_unknown_batches_are_unknown_and_bad_input_is_refused() {
    let ledger = Ledger::start(instant()).await;
    let (status, body) = ledger.get("/batch_statuses?id=nope,also-nope").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"].as_array().unwrap().iter().map(|e| e["status"].clone()).collect::<Vec<_>>(),
        ["UNKNOWN", "UNKNOWN"]
    );
    assert_eq!(ledger.post("/batches", json!({"id": "x"})).await.0, 400);
    assert_eq!(ledger.post("/batches", json!({"id": "x", "transfers": []})).await.0, 400);
    assert_eq!(ledger.submit(batch("../x", "a", "b", 1)).await, 400);
    assert_eq!(ledger.get("/batches/nope").await.0, 404);
}

#[tokio::test]
async fn injected_faults_answer_as_configured() {
    let down = Ledger::start(LedgerOptions { unavailable_rate: 1.0, ..instant() }).await;
    assert_eq!(down.get("/batch_statuses?id=a").await.0, 503);
    assert_eq!(down.submit(batch("b", "a", "b", 1)).await, 503);

    let forgetful = Ledger::start(LedgerOptions { unknown_rate: 1.0, ..instant() }).await;
    forgetful.submit(batch("b-4", "a", "b", 1)).await;
    assert_eq!(forgetful.status("b-4").await["status"], "UNKNOWN");

    let doomed = Ledger::start(LedgerOptions { invalid_rate: 1.0, ..instant() }).await;
    doomed.post("/accounts/rich-0001/deposit", json!({"amount": 100})).await;
    doomed.submit(batch("b-5", "rich-0001", "b", 1)).await;
    let status = doomed.status("b-5").await;
    assert_eq!(
        (&status["status"], &status["invalid_transactions"][0]["message"]),
        (&json!("INVALID"), &json!("injected fault: invalid"))
    );
    assert_eq!(doomed.balance("rich-0001").await, 100);
}

#[tokio::test]
async fn a_long_list_of_ids_can_be_posted_as_sawtooth_allows() {
    let ledger = Ledger::start(instant()).await;
    ledger.submit(batch("b-6", "a", "b", 1)).await;
    let (status, body) = ledger.post("/batch_statuses", json!(["b-6", "nope"])).await;
    assert_eq!(status, 200);
    let ids: Vec<(&str, &str)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("b-6", "INVALID"), ("nope", "UNKNOWN")]);
    assert_eq!(ledger.post("/batch_statuses", json!({"id": "b-6"})).await.0, 400);
}

/// Found by an attacker: deposits above the IOTA supply were taken.
#[tokio::test]
async fn a_deposit_past_the_iota_supply_is_refused_and_changes_nothing() {
    let ledger = Ledger::start(instant()).await;
    assert_eq!(ledger.post("/accounts/consumer-0001/deposit", json!({"amount": 1000})).await.1["balance"], 1000);
    let (status, body) = ledger.post("/accounts/consumer-0001/deposit", json!({"amount": u64::MAX})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("past the supply"), "{body}");
    assert_eq!(ledger.balance("consumer-0001").await, 1000, "unchanged, not wrapped to 999");
    // Every account together holds up to the supply, and not one IOTA more.
    let room = grid_core::Iota::SUPPLY - 1000;
    assert_eq!(ledger.post("/accounts/rich-0001/deposit", json!({"amount": room})).await.0, 200);
    assert_eq!(ledger.post("/accounts/consumer-0001/deposit", json!({"amount": 1})).await.0, 400);
    assert_eq!(ledger.post("/accounts/other-0001/deposit", json!({"amount": 1})).await.0, 400);
}

#[tokio::test]
async fn a_transfer_its_payee_cannot_hold_is_invalid_and_moves_nothing() {
    // A balance past the supply cannot come through the API: the store is seeded first.
    let dir = tempfile::tempdir().unwrap();
    let store = LedgerStore::open(dir.path()).unwrap();
    let rich = grid_core::PaymentAddress::parse("rich-0001").unwrap();
    let unbounded = grid_core::Iota::new(u64::MAX);
    let payer = grid_core::PaymentAddress::parse("payer-0001").unwrap();
    store.deposit(&payer, grid_core::Iota::new(10), unbounded).await.unwrap();
    store.deposit(&rich, grid_core::Iota::new(i64::MAX as u64), unbounded).await.unwrap();
    let ledger = Ledger::over(store, dir, instant()).await;
    assert_eq!(ledger.submit(batch("too-much", "payer-0001", "rich-0001", 10)).await, 202);
    let status = ledger.status("too-much").await;
    assert_eq!(status["status"], "INVALID", "{status}");
    assert!(status["invalid_transactions"][0]["message"].as_str().unwrap().contains("overflow"), "{status}");
    assert_eq!((ledger.balance("payer-0001").await, ledger.balance("rich-0001").await), (10, i64::MAX as u64));
}

#[tokio::test]
async fn money_leaves_an_account_only_with_its_key() {
    let grid_key = grid_core::AccountKey::parse("TheGridsOwnLedgerKey01").unwrap();
    let wallet = grid_core::PaymentAddress::parse("grid-wallet").unwrap();
    let grid = dev_ledger::GridAccounts { wallet, key: grid_key };
    let ledger = Ledger::start(LedgerOptions { grid: Some(grid), ..instant() }).await;
    ledger.post("/accounts/consumer-0001/deposit", json!({"amount": 500})).await;
    let pay = batch("pay-1", "consumer-0001", "grid-wallet-7", 100);
    let (owner, thief) = (Some("ConsumersOwnKey0001"), Some("SomeoneElsesKey0001"));

    assert_eq!(ledger.send("POST", "/batches", None, pay.clone()).await.0, 401, "no key");
    assert_eq!(ledger.send("POST", "/batches", owner, pay.clone()).await.0, 403, "an account nobody claimed");
    let claim = |key: Option<&str>| json!({"key": key.unwrap()});
    assert_eq!(ledger.send("PUT", "/accounts/consumer-0001/key", None, claim(owner)).await.0, 201);
    assert_eq!(ledger.send("PUT", "/accounts/consumer-0001/key", None, claim(owner)).await.0, 200, "again");
    assert_eq!(ledger.send("PUT", "/accounts/consumer-0001/key", None, claim(thief)).await.0, 409, "first wins");
    assert_eq!(ledger.send("POST", "/batches", thief, pay.clone()).await.0, 403, "another's key");
    assert_eq!(ledger.status("pay-1").await["status"], "UNKNOWN", "nothing was recorded");
    assert_eq!(ledger.send("POST", "/batches", owner, pay).await.0, 202);
    assert_eq!(ledger.status("pay-1").await["status"], "COMMITTED");

    // The grid's wallet and its per-period addresses are the grid's alone.
    assert_eq!(ledger.send("PUT", "/accounts/grid-wallet-7/key", None, claim(thief)).await.0, 403);
    assert_eq!(ledger.send("PUT", "/accounts/grid-wallet/key", None, claim(thief)).await.0, 403);
    let payout = batch("payout-1", "grid-wallet-7", "producer-0001", 80);
    assert_eq!(ledger.send("POST", "/batches", thief, payout.clone()).await.0, 403);
    assert_eq!(ledger.send("POST", "/batches", Some("TheGridsOwnLedgerKey01"), payout).await.0, 202);
    assert_eq!((ledger.balance("grid-wallet-7").await, ledger.balance("producer-0001").await), (20, 80));
    // One key for a batch: each payer must be opened by it.
    let mixed = json!({"id": "mixed", "transfers": [
        {"from": "consumer-0001", "to": "producer-0001", "amount": 1},
        {"from": "grid-wallet-7", "to": "producer-0001", "amount": 1}]});
    assert_eq!(ledger.send("POST", "/batches", owner, mixed).await.0, 403);
}

#[tokio::test]
async fn bodies_are_json_only_so_a_web_page_cannot_post_a_form() {
    let ledger = Ledger::start(instant()).await;
    for (method, path, form) in [
        ("POST", "/batches", "id=b&transfers=x"),
        ("POST", "/accounts/consumer-0001/deposit", "amount=5"),
        ("PUT", "/accounts/consumer-0001/key", "key=AFormPostedKey00001"),
        ("POST", "/batch_statuses", "id=b"),
    ] {
        let response = ledger
            .http
            .request(method.parse().unwrap(), format!("{}{path}", ledger.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-account-key", KEY)
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
    }
    assert_eq!(ledger.balance("consumer-0001").await, 0);
}
