//! The batch monitor against a stub ledger on loopback, in both dialects: what each
//! answer (and each failure to answer) does to the grid's record of its batches.
//!
//! The stub stands in for Sawtooth's REST API and Splinter's scabbard service, which
//! cannot run here; it answers as their documentation describes, and counts what it
//! is asked and how many requests are in flight at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use grid_app::jobs::BatchMonitor;
use grid_client::ledger::HttpLedger;
use grid_core::books::{BatchState, PaymentClaim, PayoutRecord};
use grid_core::ledger::{Dialect, LedgerBatch, Transfer};
use grid_core::{BatchId, CompletionMessage, EpochMs, Iota, PaymentAddress, RegistrationId};
use grid_store::Watched;
use grid_tests::TestGrid;
use serde_json::{Value, json};

/// What the stub answers to a status request.
#[derive(Clone)]
enum Mode {
    /// Per-id scripted statuses (the last one repeats); ids without a script are unknown.
    Script,
    /// This status and body for every request.
    Fail(u16, &'static str),
    /// Answer only after this long.
    Slow(Duration),
}

struct Stub {
    dialect: Dialect,
    mode: Mutex<Mode>,
    scripts: Mutex<HashMap<String, Vec<&'static str>>>,
    submitted: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    requests: AtomicUsize,
    delay: Duration,
}

impl Stub {
    fn status_of(&self, id: &str) -> &'static str {
        let mut scripts = self.scripts.lock().unwrap();
        match scripts.get_mut(id) {
            Some(script) if script.len() > 1 => script.remove(0),
            Some(script) => script[0],
            None => "UNKNOWN",
        }
    }

    /// Splinter forgets all but its last 100 batches.
    fn evicted(&self, id: &str) -> bool {
        let submitted = self.submitted.lock().unwrap();
        self.dialect == Dialect::Splinter
            && submitted.iter().any(|s| s == id)
            && !submitted.iter().rev().take(100).any(|s| s == id)
    }
}

#[derive(serde::Deserialize)]
struct Ids {
    id: Option<String>,
    ids: Option<String>,
}

async fn statuses(State(stub): State<Arc<Stub>>, Query(query): Query<Ids>) -> Response {
    stub.requests.fetch_add(1, Ordering::SeqCst);
    let now = stub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stub.most_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(stub.delay).await;
    let mode = stub.mode.lock().unwrap().clone();
    if let Mode::Slow(wait) = mode {
        tokio::time::sleep(wait).await;
    }
    stub.in_flight.fetch_sub(1, Ordering::SeqCst);
    if let Mode::Fail(status, body) = mode {
        return (StatusCode::from_u16(status).unwrap(), body).into_response();
    }
    let ids: Vec<String> =
        query.id.or(query.ids).unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    match stub.dialect {
        Dialect::Sawtooth => {
            let data: Vec<Value> = ids
                .iter()
                .map(|id| {
                    let status = stub.status_of(id);
                    let invalid = if status == "INVALID" {
                        json!([{"id": "txn-1", "message": "insufficient funds", "extended_data": ""}])
                    } else {
                        json!([])
                    };
                    json!({"id": id, "status": status, "invalid_transactions": invalid})
                })
                .collect();
            Json(json!({"data": data, "link": "http://stub/batch_statuses"})).into_response()
        }
        Dialect::Splinter => {
            let answer: Vec<Value> = ids
                .iter()
                .map(|id| {
                    let status = if stub.evicted(id) { "Unknown" } else { splinter_name(stub.status_of(id)) };
                    let message = if status == "Invalid" {
                        json!([{"transaction_id": "t1", "error_message": "insufficient funds", "error_data": []}])
                    } else {
                        json!([])
                    };
                    json!({"id": id, "status": {"statusType": status, "message": message}, "timestamp": {"secs_since_epoch": 1}})
                })
                .collect();
            Json(answer).into_response()
        }
    }
}

fn splinter_name(status: &str) -> &'static str {
    match status {
        "COMMITTED" => "Committed",
        "INVALID" => "Invalid",
        "PENDING" => "Pending",
        "VALID" => "Valid",
        "DELAYED" => "Delayed",
        _ => "Unknown",
    }
}

async fn submit(State(stub): State<Arc<Stub>>, Json(batch): Json<LedgerBatch>) -> Response {
    stub.submitted.lock().unwrap().push(batch.id.to_string());
    (StatusCode::ACCEPTED, Json(json!({"link": "http://stub/batch_statuses"}))).into_response()
}

/// Batches with a script exist (still pending); any other is not found.
async fn batch(State(stub): State<Arc<Stub>>, Path(id): Path<String>) -> Response {
    if stub.scripts.lock().unwrap().contains_key(&id) {
        return Json(json!({"id": id, "status": "PENDING", "transfers": []})).into_response();
    }
    (StatusCode::NOT_FOUND, Json(json!({"error": {"code": 71, "title": "Batch Not Found", "message": id}})))
        .into_response()
}

/// The stub on a free port; the URL the grid should use for its dialect.
async fn stub(dialect: Dialect, delay: Duration) -> (Arc<Stub>, String) {
    let stub = Arc::new(Stub {
        dialect,
        mode: Mutex::new(Mode::Script),
        scripts: Mutex::new(HashMap::new()),
        submitted: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        delay,
    });
    let api = Router::new()
        .route("/batch_statuses", get(statuses))
        .route("/batches", post(submit))
        .route("/batches/{id}", get(batch))
        .with_state(stub.clone());
    let app = Router::new().merge(api.clone()).nest("/scabbard/circuit-1/service-1", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = match dialect {
        Dialect::Sawtooth => base,
        Dialect::Splinter => format!("{base}/scabbard/circuit-1/service-1"),
    };
    (stub, url)
}

const CONFIG: &[(&str, &str)] = &[
    ("MONITOR_BUDGET_SECS", "0"),
    ("POLL_INTERVAL_SECS", "1"),
    ("MAX_CHECKS", "4"),
    ("DLT_IDS_PER_REQUEST", "2"),
    ("DLT_CONNECTION_POOL", "3"),
    ("RESEND_AFTER_SECS", "30"),
];

fn monitor(grid: &TestGrid, url: &str, dialect: Dialect) -> BatchMonitor {
    BatchMonitor::new(
        &grid.stores,
        &grid.config,
        Arc::new(HttpLedger::with_timeout(url, dialect, Duration::from_millis(400))),
    )
}

/// Records a payout (as the monitor would before submitting it) and returns it.
async fn payout(grid: &TestGrid, id: &str) -> PayoutRecord {
    let record = PayoutRecord {
        batch: LedgerBatch {
            id: BatchId::parse(id).unwrap(),
            transfers: vec![Transfer {
                from: PaymentAddress::parse("grid-1").unwrap(),
                to: PaymentAddress::parse("wallet-a").unwrap(),
                amount: Iota::new(10),
            }],
        },
        producer: RegistrationId::parse("producer-0001").unwrap(),
        amount: Iota::new(10),
        covers: Vec::new(),
        created: EpochMs::now(),
    };
    assert!(grid.stores.accounts.record_payout(&record).await.unwrap());
    record
}

async fn statuses_of(grid: &TestGrid) -> HashMap<String, (String, Vec<String>, u64)> {
    grid.stores
        .accounts
        .batches(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.id.to_string(), (b.status.as_str().to_owned(), b.reasons, b.times_checked)))
        .collect()
}

fn at(ms: u64) -> EpochMs {
    EpochMs::parse((EpochMs::now().get() + ms) as i64).unwrap()
}

async fn mixed_statuses_each_do_what_they_mean(dialect: Dialect) {
    let grid = TestGrid::start_with(CONFIG).await;
    let (stub, url) = stub(dialect, Duration::ZERO).await;
    stub.scripts.lock().unwrap().extend([
        ("done".to_owned(), vec!["COMMITTED"]),
        ("refused".to_owned(), vec!["INVALID"]),
        ("waiting".to_owned(), vec!["PENDING"]),
        ("valid".to_owned(), vec![if dialect == Dialect::Splinter { "VALID" } else { "PENDING" }]),
        ("delayed".to_owned(), vec![if dialect == Dialect::Splinter { "DELAYED" } else { "PENDING" }]),
    ]);
    for id in ["done", "refused", "waiting", "valid", "delayed", "forgotten"] {
        payout(&grid, id).await;
    }
    let report = monitor(&grid, &url, dialect).run(at(0)).await.unwrap();
    assert_eq!(
        (report.asked, report.payouts_committed, report.payouts_refused, report.not_final),
        (6, 1, 1, 4),
        "{report:?}"
    );
    assert_eq!(stub.requests.load(Ordering::SeqCst), 3, "six ids in requests of two");
    let counted = (report.pending, report.payouts_pending);
    assert_eq!(counted, (4, 4), "four payouts left pending: {report:?}");

    let statuses = statuses_of(&grid).await;
    assert_eq!(
        (statuses["done"].0.as_str(), statuses["done"].2),
        ("committed", 1),
        "every batch asked counts the check"
    );
    assert_eq!(
        (statuses["refused"].0.as_str(), statuses["refused"].1.len()),
        ("invalid", 1),
        "kept as failed with its reasons"
    );
    assert_eq!(statuses["refused"].2, 1, "checked once");
    for id in ["waiting", "valid", "delayed", "forgotten"] {
        assert_eq!((statuses[id].0.as_str(), statuses[id].2), ("pending", 1), "{id} is not final and was checked once");
    }
    let completions = grid.stores.completions.receive(10, Duration::from_secs(60)).await.unwrap();
    let announced: Vec<String> = completions
        .iter()
        .flat_map(|m| CompletionMessage::parse(&m.body).unwrap().items().to_vec())
        .map(|c| c.batch_id.to_string())
        .collect();
    assert_eq!(announced, ["done"], "one completion, for the committed batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sawtooth_statuses_commit_refuse_or_leave_pending() {
    mixed_statuses_each_do_what_they_mean(Dialect::Sawtooth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splinter_statuses_commit_refuse_or_leave_pending() {
    mixed_statuses_each_do_what_they_mean(Dialect::Splinter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_fails_to_answer_leaves_everything_pending_and_backs_off() {
    let failures: [(Mode, &str); 6] = [
        (Mode::Fail(429, ""), "too many requests"),
        (
            Mode::Fail(503, r#"{"error":{"code":18,"title":"Validator Not Ready","message":"not ready"}}"#),
            "unavailable",
        ),
        (Mode::Fail(500, r#"{"code":"500","message":"internal"}"#), "server error"),
        (Mode::Fail(200, "{\"data\": [tru"), "garbage JSON"),
        (Mode::Fail(502, "<html><body>Bad Gateway</body></html>"), "an HTML error page"),
        (Mode::Slow(Duration::from_secs(2)), "a timeout"),
    ];
    for (mode, what) in failures {
        let grid = TestGrid::start_with(CONFIG).await;
        let (stub, url) = stub(Dialect::Sawtooth, Duration::ZERO).await;
        *stub.mode.lock().unwrap() = mode;
        payout(&grid, "a").await;
        payout(&grid, "b").await;
        let report = monitor(&grid, &url, Dialect::Sawtooth).run(at(0)).await.unwrap();
        assert_eq!((report.requests_failed, report.payouts_committed), (1, 0), "{what}: {report:?}");
        let statuses = statuses_of(&grid).await;
        assert!(
            statuses.values().all(|(status, _, checks)| status == "pending" && *checks == 1),
            "{what}: {statuses:?}"
        );
        // Backed off: not due again a moment later, due after the backoff.
        assert!(grid.stores.accounts.due_batches(at(500), 10).await.unwrap().is_empty(), "{what}");
        assert_eq!(grid.stores.accounts.due_batches(at(1_500), 10).await.unwrap().len(), 2, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_stays_unknown_is_stalled_shown_and_still_followed() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (stub, url) = stub(Dialect::Sawtooth, Duration::ZERO).await;
    payout(&grid, "lost").await;
    let monitor = monitor(&grid, &url, Dialect::Sawtooth);
    let mut stalled = 0;
    for round in 0..6 {
        stalled += monitor.run(at(round * 2_000)).await.unwrap().stalled;
    }
    assert_eq!(stalled, 1, "stalled once, after MAX_CHECKS");
    let shown = grid.stores.accounts.batches(Some(BatchState::Stalled), 10).await.unwrap();
    assert_eq!((shown[0].id.as_str(), shown[0].times_checked), ("lost", 6));
    // Still followed: when the ledger finally commits it, it is done.
    stub.scripts.lock().unwrap().insert("lost".to_owned(), vec!["COMMITTED"]);
    assert_eq!(monitor.run(at(20_000)).await.unwrap().payouts_committed, 1);
    assert_eq!(statuses_of(&grid).await["lost"].0, "committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_still_not_final_is_resent_identically_and_splinters_forgotten_batch_is_not_final() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (stub, url) = stub(Dialect::Splinter, Duration::ZERO).await;
    let old = payout(&grid, "old-payout").await;
    // Splinter remembers its last 100 batches: the old payout is pushed out.
    stub.submitted.lock().unwrap().push("old-payout".to_owned());
    stub.submitted.lock().unwrap().extend((0..100).map(|i| format!("other-{i}")));
    stub.scripts.lock().unwrap().insert("old-payout".to_owned(), vec!["COMMITTED"]);
    let monitor = monitor(&grid, &url, Dialect::Splinter);
    let report = monitor.run(at(31_000)).await.unwrap();
    assert_eq!((report.payouts_committed, report.resent), (0, 1), "Unknown is never final: {report:?}");
    let resent: Vec<String> = stub.submitted.lock().unwrap().iter().filter(|id| *id == "old-payout").cloned().collect();
    assert_eq!(resent.len(), 2, "sent again under the same id");
    let due = grid.stores.accounts.due_batches(grid_core::EpochMs::LATEST, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].watched, Watched::Payout(old), "the very same batch, not a new one");
    // Now among the last 100 again, it is committed.
    assert_eq!(monitor.run(at(33_000)).await.unwrap().payouts_committed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_requests_run_concurrently_but_never_beyond_the_pool() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (stub, url) = stub(Dialect::Sawtooth, Duration::from_millis(100)).await;
    for i in 0..40 {
        payout(&grid, &format!("p{i:02}")).await;
    }
    let report = monitor(&grid, &url, Dialect::Sawtooth).run(at(0)).await.unwrap();
    assert_eq!((report.asked, stub.requests.load(Ordering::SeqCst)), (40, 20));
    let most = stub.most_in_flight.load(Ordering::SeqCst);
    assert!((2..=3).contains(&most), "at most DLT_CONNECTION_POOL = 3 in flight, and more than one: {most}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_started_together_do_the_work_once() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (stub, url) = stub(Dialect::Sawtooth, Duration::from_millis(50)).await;
    for i in 0..6 {
        payout(&grid, &format!("p{i}")).await;
        stub.scripts.lock().unwrap().insert(format!("p{i}"), vec!["COMMITTED"]);
    }
    let (one, two) = (monitor(&grid, &url, Dialect::Sawtooth), monitor(&grid, &url, Dialect::Sawtooth));
    let (a, b) = tokio::join!(one.run(at(0)), two.run(at(0)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.skipped != b.skipped, "one run holds the lease, the other stands aside: {a:?} {b:?}");
    assert_eq!(a.payouts_committed + b.payouts_committed, 6);
    assert_eq!(stub.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_rejected_only_when_the_ledger_says_it_has_no_such_batch() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (stub, url) = stub(Dialect::Sawtooth, Duration::ZERO).await;
    // The ledger answers UNKNOWN for both; it holds "slow", it never saw "ghost".
    stub.scripts.lock().unwrap().insert("slow".to_owned(), vec!["UNKNOWN"]);
    for (i, id) in ["slow", "ghost"].into_iter().enumerate() {
        let claim = PaymentClaim {
            registration: RegistrationId::parse("consumer-0001").unwrap(),
            batch_id: BatchId::parse(id).unwrap(),
            amount: Iota::new(5),
            channel_index: i as u64 + 1,
            claimed: at(0),
        };
        assert!(grid.stores.accounts.claim_payment(&claim).await.unwrap());
    }
    let monitor = monitor(&grid, &url, Dialect::Sawtooth);
    let early = monitor.run(at(1_000)).await.unwrap();
    assert_eq!((early.rejected, early.not_final), (0, 2), "an hour's patience first: {early:?}");
    let late = monitor.run(at(61 * 60 * 1000)).await.unwrap();
    assert_eq!((late.rejected, late.not_final), (1, 1), "{late:?}");
    let statuses = statuses_of(&grid).await;
    assert_eq!((statuses["ghost"].0.as_str(), statuses["slow"].0.as_str()), ("rejected", "pending"));
}
