//! `gridctl source`, `producer` and `consumer` as processes against a real `gridctl
//! serve` on port 0: what they register, what their channels say (read back by the
//! test, independently of the agents), and how they leave on SIGTERM.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use grid_client::channels::{ChannelClient, ChannelReader, HttpChannelClient};
use grid_core::channel::{ChannelAccess, Command as Message};
use grid_core::{ChannelRoot, SideKey};

/// A running gridctl process and its stdout, line by line.
struct Process {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Process {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gridctl"));
        command.args(args).env_remove("RUST_LOG").stdout(Stdio::piped()).stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    fn line(&mut self) -> String {
        self.lines.next().expect("the process printed a line").unwrap()
    }

    /// The URL after " listening on ".
    fn address(&mut self) -> String {
        let line = self.line();
        line.split_once(" listening on ").unwrap_or_else(|| panic!("unexpected line: {line}")).1.to_owned()
    }

    /// The channel from a "… writes channel root=R sideKey=K" line (`--show-secrets`).
    fn channel(&mut self) -> ChannelAccess {
        let line = self.line();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .to_owned()
        };
        ChannelAccess::new(ChannelRoot::parse(field("root=")).unwrap(), SideKey::parse(field("sideKey=")).unwrap())
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn terminate(mut self) -> Vec<String> {
        let killed = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exits 0 after SIGTERM, got {status}");
        self.lines.by_ref().map(Result::unwrap).collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &tempfile::TempDir) -> (Process, String) {
    let dir = data.path().display().to_string();
    let mut grid = Process::start(
        &["serve", "--dev-ledger", "--listen", "127.0.0.1:0", "--data-dir", &dir],
        &[("POLL_INTERVAL_SECS", "1")],
    );
    let base = grid.address();
    (grid, base)
}

async fn commands(base: &str, access: &ChannelAccess) -> Vec<Message> {
    let client: std::sync::Arc<dyn ChannelClient> =
        std::sync::Arc::new(HttpChannelClient::new(base, reqwest::Client::new()));
    let read = ChannelReader::new(access.clone(), client).read(0, 1000).await.unwrap();
    assert!(read.rejected.is_empty(), "{:?}", read.rejected);
    read.messages.into_iter().map(|m| m.command).collect()
}

/// The channel's commands once it carries at least `count` (waiting up to 20 s: the
/// agents work on the wall clock).
async fn at_least(base: &str, access: &ChannelAccess, count: usize) -> Vec<Message> {
    for _ in 0..200 {
        let said = commands(base, access).await;
        if said.len() >= count {
            return said;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the channel never carried {count} messages")
}

async fn status(url: String) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_and_its_source_run_against_serve_and_leave_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let (_grid, base) = serve(&data);
    let mut producer = Process::start(
        &[
            "producer",
            "--show-secrets",
            "--id",
            "producer-0001",
            "--grid-url",
            &base,
            "--listen",
            "127.0.0.1:0",
            "--slot-secs",
            "1",
            "--delay-secs",
            "0",
            "--price",
            "120",
            "--leave",
        ],
        &[],
    );
    let api = producer.address();
    let producer_channel = producer.channel();
    let mut source = Process::start(
        &[
            "source",
            "--show-secrets",
            "--id",
            "source-0001",
            "--producer-url",
            &api,
            "--grid-url",
            &base,
            "--profile",
            "fixed:3.6",
            "--slot-secs",
            "1",
        ],
        &[],
    );
    let source_channel = source.channel();

    // The source's channel: hello, then 3.6 kW for a second = 1 Wh per slot.
    let said = at_least(&base, &source_channel, 3).await;
    assert_eq!(said[0], Message::Hello);
    for command in &said[1..] {
        let Message::SourceOutput(reading) = command else { panic!("{command:?}") };
        assert_eq!((reading.energy.get(), reading.end.get() - reading.start.get()), (1, 1000));
    }
    // The producer keeps its sources in the grid's storage.
    assert_eq!(status(format!("{base}/storage/producer-0001/sources/source-0001")).await, 200);

    let printed = source.terminate();
    assert_eq!(printed.last().map(String::as_str), Some("source source-0001 said goodbye and deregistered"));
    assert_eq!(commands(&base, &source_channel).await.last(), Some(&Message::Goodbye));
    assert_eq!(status(format!("{base}/storage/producer-0001/sources/source-0001")).await, 404);

    // The producer offered its source's energy at its price.
    let offered = at_least(&base, &producer_channel, 2).await;
    assert_eq!(offered[0], Message::Hello);
    let offers: Vec<(u64, u64)> = offered
        .iter()
        .filter_map(|c| match c {
            Message::ProducerOutput { reading, price, .. } => Some((reading.energy.get(), price.get())),
            _ => None,
        })
        .collect();
    assert!(!offers.is_empty() && offers.iter().all(|&(wh, price)| wh >= 1 && price == 120), "{offers:?}");

    let printed = producer.terminate();
    assert_eq!(printed.last().map(String::as_str), Some("producer producer-0001 said goodbye and deregistered"));
    assert_eq!(commands(&base, &producer_channel).await.last(), Some(&Message::Goodbye));
    // Deregistered: the grid no longer knows it (nor its storage).
    assert_eq!(status(format!("{base}/storage/producer-0001/sources/source-0001")).await, 404);
    let again = reqwest::Client::new()
        .put(format!("{base}/registration/producer-0001"))
        .json(&serde_json::json!({"itemType": "producer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "a removed id cannot be registered again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_registers_reports_usage_and_leaves_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let (_grid, base) = serve(&data);
    let mut consumer = Process::start(
        &[
            "consumer",
            "--show-secrets",
            "--id",
            "consumer-0001",
            "--grid-url",
            &base,
            "--profile",
            "fixed:7.2",
            "--slot-secs",
            "1",
            "--fund",
            "500",
            "--leave",
        ],
        &[],
    );
    let channel = consumer.channel();
    assert!(consumer.line().starts_with("consumer consumer-0001 reads return channel root="));
    assert_eq!(consumer.line(), "funded: balance 500 IOTA");

    let said = at_least(&base, &channel, 2).await;
    assert_eq!(said[0], Message::Hello);
    assert!(said[1..].iter().all(|c| matches!(c, Message::Usage(r) if r.energy.get() == 2)), "{said:?}");
    let balance: serde_json::Value =
        reqwest::get(format!("{base}/ledger/accounts/consumer-0001")).await.unwrap().json().await.unwrap();
    assert_eq!(balance["balance"], 500);

    let printed = consumer.terminate();
    assert_eq!(printed.last().map(String::as_str), Some("consumer consumer-0001 said goodbye and deregistered"));
    assert_eq!(commands(&base, &channel).await.last(), Some(&Message::Goodbye));
}

#[test]
fn a_source_refuses_meter_data_with_a_bad_row_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("meter.csv");
    std::fs::write(&csv, "startTime,endTime,kWh\n1795339200000,1795340100000,1.5\n1795340100000,1795341000000,lots\n")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gridctl"))
        .args(["source", "--id", "source-0001", "--replay"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not meter data: line 3: kWh \"lots\" is not valid"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_prints_its_channel_root_and_keeps_its_side_key_to_its_state_file() {
    let data = tempfile::tempdir().unwrap();
    let (_grid, base) = serve(&data);
    let state = data.path().join("consumer.json");
    let state_arg = state.display().to_string();
    let mut consumer = Process::start(
        &["consumer", "--id", "consumer-0003", "--grid-url", &base, "--slot-secs", "1", "--state-file", &state_arg],
        &[],
    );
    let line = consumer.line();
    assert!(line.starts_with("consumer consumer-0003 writes channel root=") && !line.contains("sideKey"), "{line}");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let side_key = saved["sideKey"].as_str().expect("the state file keeps the side key").to_owned();
    // The key in the state file opens the channel whose root was printed: it reports.
    let root = line.rsplit_once("root=").unwrap().1;
    let access = ChannelAccess::new(ChannelRoot::parse(root).unwrap(), SideKey::parse(side_key.clone()).unwrap());
    at_least(&base, &access, 2).await;
    let printed = consumer.terminate();
    let side_key = side_key.as_str();
    assert!(!line.contains(side_key) && printed.iter().all(|l| !l.contains(side_key)), "{printed:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Found by an attacker on the development ledger beside `serve`: a stranger claimed a
/// consumer's account first and moved its money out, and a producer's payout address;
/// deposits passed the IOTA supply; a batch had no bound on its transfers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_ledger_gives_an_account_only_to_its_registrations_key_and_keeps_its_limits() {
    let data = tempfile::tempdir().unwrap();
    let (_grid, base) = serve(&data);
    let http = reqwest::Client::new();
    // Registered bare: the grid answers each its key (a consumer's return channel's, a
    // producer's management key).
    let register = async |id: &str, item_type: &str| -> String {
        let url = format!("{base}/registration/{id}");
        let made = http.put(url).json(&serde_json::json!({"itemType": item_type})).send().await.unwrap();
        made.json::<serde_json::Value>().await.unwrap()["sideKey"].as_str().unwrap().to_owned()
    };
    let side_key = register("consumer-0001", "consumer").await;
    let producer_key = register("producer-0001", "producer").await;
    let claim = |account: &str, side_key: Option<&str>| {
        let mut request = http
            .put(format!("{base}/ledger/accounts/{account}/key"))
            .json(&serde_json::json!({"key": "AttackersAccountKey0001"}));
        if let Some(key) = side_key {
            request = request.header("x-side-key", key);
        }
        request.send()
    };
    assert_eq!(claim("consumer-0001", None).await.unwrap().status(), 403, "no proof");
    assert_eq!(claim("consumer-0001", Some("SomebodyElsesSideKey999")).await.unwrap().status(), 403, "wrong proof");
    assert_eq!(claim("wallet-producer-0001", Some(&side_key)).await.unwrap().status(), 403, "another's key");
    assert_eq!(claim("nobody-0001", Some(&side_key)).await.unwrap().status(), 403, "no such registration");
    assert_eq!(claim("consumer-0001", Some(&side_key)).await.unwrap().status(), 201, "its own key");
    assert_eq!(claim("wallet-producer-0001", Some(&producer_key)).await.unwrap().status(), 201);

    let deposit = |amount: u64| {
        http.post(format!("{base}/ledger/accounts/consumer-0001/deposit"))
            .json(&serde_json::json!({"amount": amount}))
            .send()
    };
    assert_eq!(deposit(grid_core::Iota::SUPPLY).await.unwrap().status(), 200, "the whole supply");
    assert_eq!(deposit(1).await.unwrap().status(), 400, "past the supply");

    let transfers: Vec<serde_json::Value> = (0..=dev_ledger::MAX_TRANSFERS)
        .map(|_| serde_json::json!({"from": "consumer-0001", "to": "wallet-producer-0001", "amount": 1}))
        .collect();
    let batch = http
        .post(format!("{base}/ledger/batches"))
        .header("x-account-key", "AttackersAccountKey0001")
        .json(&serde_json::json!({"id": "too-many", "transfers": transfers}))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400, "{}", batch.text().await.unwrap());
    // One byte past the grid's limit (GRID_BODY_LIMIT_BYTES, 256 KiB): read whole, so the
    // answer never races a client still writing (3 MB did, and the connection broke).
    let huge = http
        .post(format!("{base}/ledger/batches"))
        .header("content-type", "application/json")
        .body(vec![b' '; 256 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413, "the grid's body limit holds on /ledger");
}

/// Found by an attacker: a consumer whose ledger account a stranger had claimed first got
/// 409 for its claim, and `--fund` deposited anyway, for the stranger to move out. Here
/// a ledger on its own (first claim wins) has the account claimed already: the consumer
/// stops before it funds anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_whose_account_is_claimed_by_another_key_stops_before_funding_it() {
    let data = tempfile::tempdir().unwrap();
    let (_grid, base) = serve(&data);
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger_data = ledger_dir.path().display().to_string();
    let mut ledger = Process::start(
        &["ledger", "--listen", "127.0.0.1:0", "--data-dir", &ledger_data],
        &[("LEDGER_KEY", "TheGridsOwnLedgerKey01")],
    );
    let ledger_url = ledger.address();
    let http = reqwest::Client::new();
    let taken = http
        .put(format!("{ledger_url}/accounts/consumer-0001/key"))
        .json(&serde_json::json!({"key": "AStrangersAccountKey01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 201);

    let consumer = Command::new(env!("CARGO_BIN_EXE_gridctl"))
        .args(["consumer", "--id", "consumer-0001", "--grid-url", &base, "--ledger-url", &ledger_url])
        .args(["--profile", "fixed:7.2", "--slot-secs", "1", "--fund", "500"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!consumer.status.success(), "the consumer must stop");
    let said = String::from_utf8_lossy(&consumer.stderr);
    assert!(said.contains("has another key"), "{said}");
    assert!(!String::from_utf8_lossy(&consumer.stdout).contains("funded"));
    let balance: serde_json::Value =
        http.get(format!("{ledger_url}/accounts/consumer-0001")).send().await.unwrap().json().await.unwrap();
    assert_eq!(balance["balance"], 0, "nothing was deposited for the stranger to take");
}
