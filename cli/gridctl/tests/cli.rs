//! `gridctl` as a user runs it: the real binary, its output and its exit status.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn gridctl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gridctl"));
    command.env_remove("RUST_LOG");
    command
}

/// `gridctl serve` on a free port over `data`, its stdout piped (for
/// [`wait_for_address`]) and its stderr dropped; callers add what their test needs.
fn serve(data: &std::path::Path) -> Command {
    let mut command = gridctl();
    command
        .args(["serve", "--dev-ledger", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// A channel made with `gridctl channel new` on the node at a grid's base URL.
struct Channel {
    node: String,
    seed: String,
    root: String,
    key: String,
}

impl Channel {
    fn new(base: &str) -> Self {
        let node = format!("--node={base}");
        let created = gridctl().args(["channel", "new", &node]).output().unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let channel: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        let field = |name: &str| channel[name].as_str().unwrap().to_owned();
        Self { seed: field("seed"), root: field("root"), key: field("sideKey"), node }
    }

    /// Publishes `command` (JSON) at index `from` with `gridctl channel publish`; its stdout.
    fn publish(&self, from: u64, command: &str) -> String {
        let published = gridctl()
            .args(["channel", "publish", &self.node, "--seed", &self.seed, "--side-key", &self.key])
            .args(["--from", &from.to_string(), command])
            .output()
            .unwrap();
        assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
        String::from_utf8_lossy(&published.stdout).into_owned()
    }

    /// Registers `id` as an `item_type` writing this channel.
    async fn register(&self, base: &str, id: &str, item_type: &str) -> reqwest::Response {
        reqwest::Client::new()
            .put(format!("{base}/registration/{id}"))
            .json(&serde_json::json!({"itemType": item_type, "root": self.root, "sideKey": self.key}))
            .send()
            .await
            .unwrap()
    }
}

/// Reads stdout until the "listening on" line and returns the base URL.
fn wait_for_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().expect("serve prints its address").expect("readable stdout");
    let (_, base) = line.split_once(" listening on ").unwrap_or_else(|| panic!("unexpected first line: {line}"));
    base.to_owned()
}

#[tokio::test]
async fn serve_answers_on_the_address_it_prints_and_stops_cleanly_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = serve(data.path()).spawn().unwrap();
    let base = wait_for_address(&mut child);

    let about: serde_json::Value = reqwest::get(format!("{base}/")).await.unwrap().json().await.unwrap();
    assert_eq!(about["name"], "energy-grid");
    let created = reqwest::Client::new()
        .put(format!("{base}/registration/consumer-0001"))
        .json(&serde_json::json!({"itemType": "consumer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(data.path().join("grid.db").exists(), "the store lives in --data-dir");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exits 0 after SIGTERM, got {status}");
}

#[test]
fn a_bad_configuration_variable_stops_serve_with_a_message_naming_it() {
    let output =
        gridctl().args(["serve", "--listen", "127.0.0.1:0"]).env("GRID_BODY_LIMIT_BYTES", "lots").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GRID_BODY_LIMIT_BYTES: \"lots\" is not valid"), "{stderr}");
}

/// The development ledger lets anyone fund any account: it is never served by default.
#[tokio::test]
async fn serve_pays_through_a_ledger_it_is_given_and_serves_none_unless_asked() {
    let data = tempfile::tempdir().unwrap();
    let output = gridctl().args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set LEDGER_URL, or pass --dev-ledger"), "{stderr}");

    let mut child = gridctl()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("LEDGER_URL", "http://127.0.0.1:9/ledger")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = wait_for_address(&mut child);
    let deposit = reqwest::Client::new()
        .post(format!("{base}/ledger/accounts/grid-wallet-1/deposit"))
        .json(&serde_json::json!({"amount": 1_000_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 404, "no ledger at /ledger");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn flags_override_the_environment() {
    let data = tempfile::tempdir().unwrap();
    let mut child = serve(data.path())
        .env("GRID_LISTEN", "not-an-address")
        .env("GRID_DATA_DIR", "/nonexistent/should/not/be/used")
        .spawn()
        .unwrap();
    let base = wait_for_address(&mut child);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(data.path().join("grid.db").exists());
}

#[test]
fn the_demo_trades_until_everything_is_paid_and_its_books_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let output = gridctl()
        .args(["demo", "--producers", "2", "--sources", "1", "--consumers", "3", "--periods", "2", "--pace-ms", "0"])
        .arg("--summary-json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "demo failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(!stdout.contains('✗'), "{stdout}");
    assert_eq!(stdout.matches('✓').count(), 9, "{stdout}");

    // The invariants again, from the figures alone.
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    let total = |list: &str, field: &str| s[list].as_array().unwrap().iter().map(|e| n(&e[field])).sum::<u64>();
    let periods = s["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2);
    for p in periods {
        let sum = |list: &str, field: &str| p[list].as_array().unwrap().iter().map(|e| n(&e[field])).sum::<u64>();
        assert_eq!(sum("consumers", "charge"), n(&p["revenue"]));
        assert_eq!(sum("producers", "allocation") + n(&p["fee"]) + n(&p["unallocated"]), n(&p["revenue"]));
        // Every kWh counted once: Σ local = Σ matched = M; the rest imported or exported.
        let m = n(&p["matched"]);
        assert_eq!((sum("consumers", "local"), sum("producers", "matched")), (m, m));
        assert_eq!(m, n(&p["admitted"]).min(n(&p["used"])));
        assert_eq!((sum("consumers", "imported"), n(&p["imported"])), (n(&p["used"]) - m, n(&p["used"]) - m));
        assert_eq!((sum("producers", "exported"), n(&p["exported"])), (n(&p["produced"]) - m, n(&p["produced"]) - m));
        for c in p["consumers"].as_array().unwrap() {
            assert!(n(&c["charge"]) <= (n(&c["local"]) * n(&s["priceCap"])).div_ceil(1000), "{c}");
        }
    }
    assert!(total("periods", "revenue") > 0, "the demo traded something");
    // Money is conserved: what consumers paid is what producers got plus what the grid keeps.
    let (paid, paid_out, held) = (total("consumers", "paid"), total("producers", "paidOut"), n(&s["grid"]["held"]));
    assert_eq!(paid, total("consumers", "billed"));
    assert_eq!(paid, paid_out + held);
    assert_eq!(held, n(&s["grid"]["ledgerHeld"]));
    assert_eq!(n(&s["grid"]["paidIn"]), paid);
    for c in s["consumers"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let billed_periods = periods
            .iter()
            .filter(|p| p["consumers"].as_array().unwrap().iter().any(|c| c["id"] == id && n(&c["charge"]) > 0))
            .count() as u64;
        assert_eq!(n(&c["paymentRequests"]), billed_periods, "{id} got a payment request per billed period");
        assert_eq!(n(&c["ledgerSpent"]), n(&c["paid"]), "{id}");
    }
    for p in s["producers"].as_array().unwrap() {
        assert_eq!(n(&p["ledgerBalance"]), n(&p["paidOut"]), "{}", p["id"]);
        assert_eq!(n(&p["paidOut"]), n(&p["entitled"]), "{}", p["id"]);
    }
}

#[test]
fn the_demo_shows_a_shortage_a_surplus_and_a_community_and_their_books_add_up() {
    for (scenario, imported_more) in [("shortage", Some(true)), ("surplus", Some(false)), ("community", None)] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("summary.json");
        let output = gridctl()
            .args([
                "demo",
                "--producers",
                "2",
                "--sources",
                "1",
                "--consumers",
                "3",
                "--periods",
                "2",
                "--pace-ms",
                "0",
            ])
            .args(["--scenario", scenario, "--summary-json"])
            .arg(&json)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{scenario}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!((stdout.matches('✓').count(), stdout.matches('✗').count()), (9, 0), "{scenario}: {stdout}");
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let total =
            |field: &str| s["periods"].as_array().unwrap().iter().map(|p| p[field].as_u64().unwrap()).sum::<u64>();
        let (imported, exported) = (total("imported"), total("exported"));
        if let Some(imported_more) = imported_more {
            assert_eq!(imported > exported, imported_more, "{scenario}: imported {imported}, exported {exported}");
        } else {
            // The community: a prosumer among the homes used its own panels' energy,
            // under the time-of-use tariff, with a bidding household.
            let homes: Vec<&str> =
                s["consumers"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
            assert_eq!(homes, ["prosumer-01", "consumer-02", "consumer-03"], "{scenario}");
            assert!(total("selfConsumed") > 0, "{scenario}: self-consumption");
            let first = &s["periods"][0];
            assert!(first["cap"] == 180 || first["cap"] == 260, "{scenario}: the tariff's cap: {first}");
            assert_eq!(first["feedIn"], 60);
            let bidder = first["consumers"].as_array().unwrap().iter().find(|c| c["id"] == "consumer-02").unwrap();
            assert_eq!(bidder["bid"], 120, "{scenario}");
        }
        assert!(total("matched") > 0 && total("revenue") > 0, "{scenario}: something traded");
    }
}

#[test]
fn simulate_backtests_a_community_month_by_month_and_the_same_seed_gives_the_same_output() {
    let run = |seed: &str| {
        let out = tempfile::tempdir().unwrap();
        let output = gridctl()
            .args(["simulate", "--homes", "12", "--days", "40", "--start", "2026-05-20", "--seed", seed, "--out"])
            .arg(out.path())
            .env_remove("PRICE_CAP")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let csv = std::fs::read_to_string(out.path().join("simulate.csv")).unwrap();
        let svg = std::fs::read_to_string(out.path().join("simulate.svg")).unwrap();
        (stdout, csv, svg)
    };
    let (stdout, csv, svg) = run("5");
    // Two months and the total, each adding up: own + matched + imported = used.
    assert_eq!((stdout.matches('✓').count(), stdout.matches('✗').count()), (3, 0), "{stdout}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    for line in csv.lines().skip(1) {
        let f: Vec<u64> = line.split(',').skip(3).take(5).map(|x| x.parse().unwrap()).collect();
        let (used, own, matched, imported) = (f[0], f[1], f[2], f[3]);
        assert_eq!(own + matched + imported, used, "{line}");
        assert!(own > 0 && matched > 0, "{line}");
    }
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let again = run("5");
    assert_eq!((&again.1, &again.2), (&csv, &svg), "the same seed, the same output");
    assert_ne!(run("6").1, csv, "another seed, another sky and other homes");
}

/// A newcomer's first look: `demo --keep-running` used to open the portal on four red
/// alarms (settlement hours behind the simulated day, the sweep never run, the jobs'
/// last runs stale), none of them true of the grid. Its jobs now run on the real clock.
#[tokio::test]
async fn the_portal_of_a_demo_kept_running_shows_no_alarm() {
    let mut child = gridctl()
        .args(["demo", "--producers", "2", "--sources", "1", "--consumers", "3", "--periods", "2", "--pace-ms", "0"])
        .args(["--keep-running", "--listen", "127.0.0.1:0"])
        .env("PORTAL_TOKEN", "demo-portal-token-for-a-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the demo says where it keeps running").unwrap();
        if let Some((_, rest)) = line.split_once("keeps running at ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let signed_in = http
        .post(format!("{base}/portal/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=demo-portal-token-for-a-test")
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    // The jobs run every 5 s: a few rounds to catch up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let health = loop {
        let overview: serde_json::Value = http
            .get(format!("{base}/portal/api/overview"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let health = overview["health"].clone();
        let jobs = health["jobs"].as_array().unwrap();
        let green = health["settlementBehind"] == false
            && health["settlementLagSecs"].is_u64()
            && health["pollingBehind"] == false
            && health["pollLagSecs"].is_u64()
            && health["deadLetters"] == 0
            && health["batchesStalled"] == 0
            && jobs.len() == 3
            && jobs.iter().all(|job| job["stopped"] == false);
        if green || std::time::Instant::now() > deadline {
            break (green, health);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(health.0, "an alarm on a healthy demo grid: {:#}", health.1);
}

/// The issue's finding: a SIGTERM during a batch-monitor run left `serve` alive for
/// more than 100 s. Here the monitor is held by a ledger that accepts and never answers
/// (each request waits out its 10 s timeout), and `serve` still stops within its grace.
#[tokio::test]
async fn sigterm_in_the_middle_of_a_job_run_stops_serve_within_its_grace() {
    let ledger = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ledger_url = format!("http://{}", ledger.local_addr().unwrap());
    let (asked, mut ledger_asked) = tokio::sync::mpsc::channel(16);
    let black_hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = ledger.accept().await {
            held.push(stream);
            let _ = asked.try_send(());
        }
    });
    let data = tempfile::tempdir().unwrap();
    let mut server = gridctl()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("LEDGER_URL", &ledger_url)
        .env("POLL_INTERVAL_SECS", "1")
        .env("GRID_SHUTDOWN_GRACE_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = wait_for_address(&mut server);

    // A consumer claims a payment: the monitor asks the ledger about its batch.
    let channel = Channel::new(&base);
    channel.publish(1, r#"{"command":"payment","batchId":"batch-held-by-the-ledger","amount":100}"#);
    assert_eq!(channel.register(&base, "consumer-0001", "consumer").await.status(), 201);
    tokio::time::timeout(std::time::Duration::from_secs(30), ledger_asked.recv())
        .await
        .expect("the batch monitor asks the ledger");

    let signalled = std::time::Instant::now();
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    let stopped = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break Some(status);
        }
        if signalled.elapsed() > std::time::Duration::from_secs(8) {
            break None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let Some(status) = stopped else {
        server.kill().unwrap();
        panic!("serve was still running 8 s after SIGTERM, with a 1 s grace");
    };
    assert!(status.success(), "serve exits 0 after SIGTERM, got {status}");
    black_hole.abort();
}

#[tokio::test]
async fn a_channel_made_with_gridctl_registers_a_producer_and_reads_back() {
    let data = tempfile::tempdir().unwrap();
    let mut server = serve(data.path()).spawn().unwrap();
    let base = wait_for_address(&mut server);
    let channel = Channel::new(&base);
    let usage = r#"{"command":"usage","startTime":1795860000000,"endTime":1795860900000,"usage":0.5}"#;
    assert_eq!(channel.publish(1, usage).trim(), r#"{"index":1,"nextIndex":2}"#);
    let registered = channel.register(&base, "consumer-0001", "consumer").await;
    assert_eq!(registered.status(), 201, "the grid found the hello gridctl published");

    let (root, key) = (channel.root.as_str(), channel.key.as_str());
    let read = gridctl().args(["channel", "read", &channel.node, "--root", root, "--side-key", key]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&read.stdout), format!("0 {{\"command\":\"hello\"}}\n1 {usage}\n"));
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn serve_without_a_ledger_url_runs_a_development_ledger_at_slash_ledger() {
    let data = tempfile::tempdir().unwrap();
    let mut server = serve(data.path()).env_remove("LEDGER_URL").spawn().unwrap();
    let base = wait_for_address(&mut server);
    let http = reqwest::Client::new();
    let deposit = http
        .post(format!("{base}/ledger/accounts/consumer-0001/deposit"))
        .json(&serde_json::json!({"amount": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 200);
    let statuses: serde_json::Value =
        http.get(format!("{base}/ledger/batch_statuses?id=nope")).send().await.unwrap().json().await.unwrap();
    assert_eq!(statuses["data"][0]["status"], "UNKNOWN");
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(data.path().join("dev-ledger/ledger.db").exists());
}

#[test]
fn the_ledger_command_refuses_a_fault_rate_outside_0_to_1() {
    let output = gridctl()
        .args(["ledger", "--listen", "127.0.0.1:0", "--invalid-rate", "1.5"])
        .env("LEDGER_KEY", "TheGridsLedgerKey0001")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--invalid-rate must be between 0 and 1"));
}

#[test]
fn the_ledger_command_needs_the_key_the_grid_spends_its_accounts_with() {
    let output = gridctl().args(["ledger", "--listen", "127.0.0.1:0"]).env_remove("LEDGER_KEY").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--grid-key"), "{stderr}");
}

#[tokio::test]
async fn the_ledger_command_injects_the_faults_its_flags_ask_for() {
    let data = tempfile::tempdir().unwrap();
    let start = |flags: &[&str]| {
        gridctl()
            .args(["ledger", "--listen", "127.0.0.1:0", "--final-after-ms", "0", "--data-dir"])
            .arg(data.path().join(flags.join("")))
            .args(flags)
            .env("LEDGER_KEY", "TheGridsLedgerKey0001")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let batch = serde_json::json!({"id": "b-1", "transfers": [{"from": "payer-0001", "to": "b", "amount": 1}]});

    let mut down = start(&["--unavailable-rate", "1"]);
    let base = wait_for_address(&mut down);
    assert_eq!(http.get(format!("{base}/batch_statuses?id=b-1")).send().await.unwrap().status(), 503);
    down.kill().unwrap();

    let mut forgetful = start(&["--unknown-rate", "1", "--invalid-rate", "1"]);
    let base = wait_for_address(&mut forgetful);
    let deposit = serde_json::json!({"amount": 5});
    let claim = serde_json::json!({"key": "ThePayersOwnKey0001"});
    assert_eq!(http.put(format!("{base}/accounts/payer-0001/key")).json(&claim).send().await.unwrap().status(), 201);
    assert_eq!(
        http.post(format!("{base}/accounts/payer-0001/deposit")).json(&deposit).send().await.unwrap().status(),
        200
    );
    let submit = http.post(format!("{base}/batches")).header("x-account-key", "ThePayersOwnKey0001").json(&batch);
    assert_eq!(submit.send().await.unwrap().status(), 202);
    let status: serde_json::Value =
        http.get(format!("{base}/batch_statuses?id=b-1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["data"][0]["status"], "UNKNOWN");
    let batch: serde_json::Value = http.get(format!("{base}/batches/b-1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(batch["status"], "INVALID", "refused though the payer could pay");
    let balance: serde_json::Value =
        http.get(format!("{base}/accounts/payer-0001")).send().await.unwrap().json().await.unwrap();
    assert_eq!(balance["balance"], 5);
    forgetful.kill().unwrap();
    down.wait().unwrap();
    forgetful.wait().unwrap();
}

#[tokio::test]
async fn batches_lists_what_the_grid_follows_and_filters_by_status() {
    use grid_core::ledger::{LedgerBatch, Transfer};
    use grid_core::{BatchId, Iota, PaymentAddress, RegistrationId};

    let data = tempfile::tempdir().unwrap();
    let vars = std::collections::HashMap::from([("GRID_DATA_DIR".to_owned(), data.path().display().to_string())]);
    let stores = grid_app::open_stores(&grid_app::GridConfig::from_vars(&vars).unwrap()).await.unwrap();
    for (id, to) in [("payout-a", "wallet-a"), ("payout-b", "wallet-b")] {
        let batch = LedgerBatch {
            id: BatchId::parse(id).unwrap(),
            transfers: vec![Transfer {
                from: PaymentAddress::parse("grid-1").unwrap(),
                to: PaymentAddress::parse(to).unwrap(),
                amount: Iota::new(7),
            }],
        };
        let record = grid_core::books::PayoutRecord {
            batch,
            producer: RegistrationId::parse("producer-0001").unwrap(),
            amount: Iota::new(7),
            covers: Vec::new(),
            created: grid_core::EpochMs::now(),
        };
        assert!(stores.accounts.record_payout(&record).await.unwrap());
    }
    stores
        .accounts
        .resolve_payout(
            &BatchId::parse("payout-b").unwrap(),
            &grid_core::books::PayoutResolution::Refused { reasons: vec!["insufficient funds".to_owned()] },
        )
        .await
        .unwrap();
    drop(stores);

    let list = |status: &str| {
        let output = gridctl().args(["batches", "--status", status, "--data-dir"]).arg(data.path()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().lines().skip(1).map(str::to_owned).collect::<Vec<_>>()
    };
    let pending = list("pending");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0].starts_with("payout-a\tpayout\tproducer-0001\t7\tpending\t0\t"), "{pending:?}");
    let invalid = list("invalid");
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert!(invalid[0].starts_with("payout-b\t") && invalid[0].ends_with("\tinsufficient funds"), "{invalid:?}");

    let wrong = gridctl().args(["batches", "--status", "lost", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(!wrong.status.success());
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(message.contains("--status") && message.contains("status must be pending, stalled"), "{message}");
}

#[tokio::test]
async fn serve_prints_the_portal_and_a_made_up_token_that_signs_in_and_never_prints_a_configured_token() {
    let data = tempfile::tempdir().unwrap();
    let start = |token: Option<&str>| {
        let mut command = serve(data.path());
        match token {
            Some(token) => command.env("PORTAL_TOKEN", token),
            None => command.env_remove("PORTAL_TOKEN"),
        };
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (first, second) = (lines.next().unwrap().unwrap(), lines.next().unwrap().unwrap());
        (child, first, second)
    };

    let (mut made_up, _, line) = start(None);
    let link = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    assert!(link.ends_with("/portal"), "no token in the link: {line}");
    let token = line.split_whitespace().skip_while(|w| *w != "token").nth(1).unwrap().trim_end_matches(',');
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let signed_in = http
        .post(format!("{link}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{line}");
    assert!(signed_in.headers()["set-cookie"].to_str().unwrap().starts_with("grid_portal="));
    made_up.kill().unwrap();
    made_up.wait().unwrap();

    let (mut configured, _, line) = start(Some("operators-own-token-123"));
    assert!(line.ends_with("/portal (sign in with PORTAL_TOKEN)"), "{line}");
    assert!(!line.contains("operators-own-token-123"));
    configured.kill().unwrap();
    configured.wait().unwrap();
}

#[tokio::test]
async fn side_keys_and_seeds_never_reach_the_logs_even_at_trace_level() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("serve.log");
    let mut server = serve(data.path())
        .env("RUST_LOG", "trace")
        .env("POLL_INTERVAL_SECS", "1")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = wait_for_address(&mut server);
    let http = reqwest::Client::new();

    // A consumer with its own channel: made, published on, registered, polled.
    let channel = Channel::new(&base);
    let (seed, root, key) = (channel.seed.as_str(), channel.root.as_str(), channel.key.as_str());
    channel.publish(1, r#"{"command":"usage","startTime":1795860000000,"endTime":1795860900000,"usage":0.5}"#);
    let registered = channel.register(&base, "consumer-0001", "consumer").await;
    assert_eq!(registered.status(), 201);
    let answer: serde_json::Value = registered.json().await.unwrap();
    let return_key = answer["sideKey"].as_str().expect("the return channel's side key").to_owned();

    // Refused and accepted uses of the key, in headers and bodies.
    let wrong = http
        .put(format!("{base}/registration/consumer-0001"))
        .header("X-Side-Key", "WrongSideKeyForTheLogs01")
        .json(&serde_json::json!({"itemType": "consumer", "root": root, "sideKey": "AnotherKeyInTheBody001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let stored = http
        .put(format!("{base}/storage/consumer-0001/notes/n1"))
        .header("X-Side-Key", key)
        .json(&serde_json::json!({"note": 1}))
        .send()
        .await
        .unwrap();
    assert!(stored.status().is_success());
    // Let the poller read the channel at least once.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    // Removing a registration takes its side key in the path, as the seed API has it.
    let wrong =
        http.delete(format!("{base}/registration/consumer-0001/WrongSideKeyForTheLogs01")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let deleted = http.delete(format!("{base}/registration/consumer-0001/{key}")).send().await.unwrap();
    assert_eq!(deleted.status(), 200);

    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("consumer-0001"), "the log is captured and says what happened");
    for secret in [seed, key, return_key.as_str(), "WrongSideKeyForTheLogs01", "AnotherKeyInTheBody001"] {
        assert!(!log.contains(secret), "a secret ({}…) is in the log", &secret[..6]);
    }
}

/// The OpenAPI document states its rules (patterns, lengths, bounds, enumerations, closed
/// objects) well enough that schemathesis finds no 5xx, no 4xx without a message, and no
/// request valid by the document that the server refuses (`positive_data_acceptance`,
/// ST202; the statuses it expects are its defaults: 2xx, 3xx, 401, 403, 404, 409, 429,
/// 5xx, as generated ids rarely name anything that exists). The rules about other data
/// are kept by the hooks, with a real channel made here (scripts/schemathesis_hooks.py).
#[tokio::test]
async fn schemathesis_finds_no_server_error_no_4xx_without_a_message_and_no_valid_request_refused() {
    const TOKEN: &str = "schemathesis-portal-token";
    let data = tempfile::tempdir().unwrap();
    let mut server = serve(data.path()).env("PORTAL_TOKEN", TOKEN).spawn().unwrap();
    let base = wait_for_address(&mut server);
    let channel = schemathesis_channel(&base).await;
    // A member whose statement the valid cases read with its key.
    let member = reqwest::Client::new()
        .put(format!("{base}/registration/member-00001"))
        .json(&serde_json::json!({"itemType": "consumer"}))
        .send()
        .await
        .unwrap();
    let member: serde_json::Value = member.json().await.unwrap();
    let member = serde_json::json!({"id": "member-00001", "sideKey": member["sideKey"]}).to_string();
    let hooks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts");
    let run = Command::new("schemathesis")
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--checks", "not_a_server_error,a_4xx_says_what_was_wrong,positive_data_acceptance"])
        .args(["--max-examples", "30"])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", hooks)
        .env("GRID_SCHEMATHESIS_CHANNEL", channel)
        .env("GRID_SCHEMATHESIS_MEMBER", member)
        // Its example cache goes to the working directory: a temporary one, not the tree.
        .current_dir(data.path())
        .output()
        .expect("schemathesis is on PATH (`make test` installs it into .venv)");
    server.kill().unwrap();
    server.wait().unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "schemathesis found failures:\n{report}\n{}", String::from_utf8_lossy(&run.stderr));
    // Its summary: `Selected: 25/25` (of all operations) and `Tested: 25`.
    let field = |name: &str| report.lines().find_map(|l| l.trim().strip_prefix(name)).map(str::trim);
    let (selected, total) = field("Selected:").and_then(|s| s.split_once('/')).expect("a summary of operations");
    assert_eq!(selected, total, "every operation was selected:\n{report}");
    assert_eq!(field("Tested:"), Some(selected), "every operation was tested:\n{report}");
}

/// A channel that starts with `hello`, made on the grid at `base` as a device makes one,
/// with that hello's envelope: `{"root", "sideKey", "envelope"}` for the schemathesis hooks.
async fn schemathesis_channel(base: &str) -> String {
    use grid_core::channel::ChannelAccess;
    use grid_core::{ChannelRoot, SideKey};

    let created = gridctl().args(["channel", "new", &format!("--node={base}")]).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let channel: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let (root, key) = (channel["root"].as_str().unwrap(), channel["sideKey"].as_str().unwrap());
    let access = ChannelAccess::new(ChannelRoot::parse(root).unwrap(), SideKey::parse(key).unwrap());
    let hello: serde_json::Value =
        reqwest::get(format!("{base}/channels/messages/{}", access.address(0))).await.unwrap().json().await.unwrap();
    assert!(hello["envelope"].is_object(), "{hello}");
    serde_json::json!({"root": root, "sideKey": key, "envelope": hello["envelope"]}).to_string()
}

#[test]
fn a_short_soak_under_ledger_faults_and_storage_load_loses_nothing() {
    let output = gridctl()
        .args(["demo", "--producers", "2", "--sources", "1", "--consumers", "4", "--periods", "3", "--pace-ms", "0"])
        .args(["--ledger-faults", "0.3", "--storage-clients", "2"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "soak failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(!stdout.contains('✗'), "{stdout}");
    let line = |name: &str| stdout.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_default().to_owned();
    assert!(line("lost").split_whitespace().nth(1) == Some("0"), "{stdout}");
    assert!(line("periods settled").contains(" 3"), "{stdout}");
    assert!(line("storage requests served").contains("errors by kind: none"), "{stdout}");
}

/// Offers that come after their period settled (a grace shorter than the producers'
/// delay plus the poll interval) count in a later period: `serve` says so, with what to
/// change.
#[tokio::test]
async fn serve_warns_when_readings_arrive_after_their_period_settled() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("serve.log");
    let mut server = serve(data.path())
        .env("POLL_INTERVAL_SECS", "1")
        .env("SETTLEMENT_PERIOD_SECS", "60")
        .env("SETTLEMENT_GRACE_SECS", "0")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = wait_for_address(&mut server);
    let channel = Channel::new(&base);
    assert_eq!(channel.register(&base, "producer-0001", "producer").await.status(), 201);
    let now = grid_core::EpochMs::now().get();
    let period = now - now % 60_000 - 5 * 60_000;
    let publish = |from: u64, start: u64| {
        let output = serde_json::json!({"command": "output", "startTime": start, "endTime": start + 30_000,
            "output": 1.0, "producerPrice": 100, "paymentIdOrAddress": "wallet-producer-0001"});
        channel.publish(from, &output.to_string());
    };
    let log = || std::fs::read_to_string(&log_path).unwrap();
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !log().contains(what) {
            assert!(std::time::Instant::now() < deadline, "serve never logged {what:?}:\n{}", log());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    publish(1, period);
    wait_for("settled");
    assert!(!log().contains("arrived after their period"), "nothing late yet:\n{}", log());
    publish(2, period + 30_000);
    wait_for("1 reading arrived after their period had settled");
    assert!(log().contains("raise SETTLEMENT_GRACE_SECS above the producers' --delay-secs plus POLL_INTERVAL_SECS"));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The node rings the poller when it stores envelopes: with the scheduled run an hour
/// away, a reading attached to the node is read into the books anyway, and so is what a
/// channel carried before its registration.
#[tokio::test]
async fn serve_reads_what_the_node_stores_without_waiting_for_the_schedule() {
    const TOKEN: &str = "push-test-portal-token";
    let data = tempfile::tempdir().unwrap();
    let mut server = serve(data.path()).env("POLL_INTERVAL_SECS", "3600").env("PORTAL_TOKEN", TOKEN).spawn().unwrap();
    let base = wait_for_address(&mut server);
    let http = reqwest::Client::new();
    // Past the first scheduled run, which comes at start.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let channel = Channel::new(&base);
    let now = grid_core::EpochMs::now().get();
    let usage = |from: u64, start: u64| {
        let command =
            serde_json::json!({"command": "usage", "startTime": start, "endTime": start + 1000, "usage": 0.5});
        channel.publish(from, &command.to_string());
    };
    let readings = async || -> usize {
        let detail: serde_json::Value = http
            .get(format!("{base}/portal/api/registrations/consumer-0001"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        detail["readings"].as_array().map_or(0, Vec::len)
    };
    let until = async |count: usize| {
        for _ in 0..300 {
            if readings().await >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the grid never read {count} readings with the schedule an hour away");
    };

    // Written before the consumer registers: read when it does.
    usage(1, now - 60_000);
    assert_eq!(channel.register(&base, "consumer-0001", "consumer").await.status(), 201);
    until(1).await;
    // Written after: read when the node stores it.
    usage(2, now - 30_000);
    until(2).await;
    server.kill().unwrap();
    server.wait().unwrap();
}
