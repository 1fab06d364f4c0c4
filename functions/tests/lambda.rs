//! The functions as Lambdas: the real binaries, driven through cargo-lambda's runtime
//! emulator (`cargo lambda watch --only-lambda-apis`), over DynamoDB/S3/SQS on moto.
//!
//! The emulator plays Lambda's control plane: it turns HTTP requests on the API's
//! real paths into API Gateway events for the function its router names, and serves
//! `cargo lambda invoke`. The function binaries are the ones cargo built for this
//! test, started with the environment Lambda would give them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use grid_core::channel::ChannelAccess;
use grid_core::{ChannelRoot, SideKey};
use grid_store::contract::moto::Moto;
use grid_store::resources::AwsNames;
use serde_json::{Value, json};

const FUNCTIONS: [(&str, &str); 7] = [
    ("registration", env!("CARGO_BIN_EXE_registration")),
    ("storage", env!("CARGO_BIN_EXE_storage")),
    ("channels", env!("CARGO_BIN_EXE_channels")),
    ("portal", env!("CARGO_BIN_EXE_portal")),
    ("poller", env!("CARGO_BIN_EXE_poller")),
    ("settlement", env!("CARGO_BIN_EXE_settlement")),
    ("batch-monitor", env!("CARGO_BIN_EXE_batch-monitor")),
];

/// `cargo-lambda` from the workspace's `.venv` (installed by `make tools`), else from PATH.
fn cargo_lambda() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/cargo-lambda");
    if venv.exists() { venv } else { PathBuf::from("cargo-lambda") }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Processes stopped when the test ends, however it ends.
struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        // Functions first: they would report the emulator vanishing under them.
        for child in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The emulator on a free port, with every function attached to it.
struct LambdaStack {
    port: u16,
    _processes: Running,
    _moto: Moto,
    _ledger: tempfile::TempDir,
    /// Each function's log (its stderr), `<name>.log`.
    logs: tempfile::TempDir,
}

impl LambdaStack {
    async fn start() -> Self {
        let moto = Moto::start();
        let (_, names) = moto.fresh_resources().await;
        let port = free_port();
        let emulator = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--package", "grid-functions", "--only-lambda-apis"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start cargo-lambda ({e}); run `make tools` to install it"));
        let mut processes = Running(vec![emulator]);
        wait_for_port(port);
        let (ledger_url, ledger) = dev_ledger().await;
        let logs = tempfile::tempdir().unwrap();
        for (name, binary) in FUNCTIONS {
            let log = std::fs::File::create(logs.path().join(format!("{name}.log"))).unwrap();
            processes.0.push(start_function(name, binary, port, &moto.endpoint, &names, &ledger_url, log));
        }
        Self { port, _processes: processes, _moto: moto, _ledger: ledger, logs }
    }

    /// What the function `name` has logged so far.
    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `cargo lambda invoke NAME --data-file FILE` against the emulator.
    fn invoke(&self, name: &str, event_file: &str) -> Output {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/events").join(event_file);
        Command::new(cargo_lambda())
            .args(["lambda", "invoke", name, "--output-format", "json", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string(), "--data-file"])
            .arg(file)
            .output()
            .expect("cargo lambda invoke runs")
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the Lambda emulator did not start within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The key the batch monitor spends the grid's accounts with (`LEDGER_KEY`).
const LEDGER_KEY: &str = "TheGridsLedgerKeyOnLambda";

/// A development ledger for the batch monitor, in this test process.
async fn dev_ledger() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let grid = dev_ledger::GridAccounts {
        wallet: grid_core::PaymentAddress::parse("grid-wallet").unwrap(),
        key: grid_core::AccountKey::parse(LEDGER_KEY).unwrap(),
    };
    let options = dev_ledger::LedgerOptions { grid: Some(grid), ..Default::default() };
    let app = dev_ledger::router(dev_ledger::LedgerStore::open(dir.path()).unwrap(), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, dir)
}

/// What opens the portal function's API in these tests.
const PORTAL_TOKEN: &str = "lambda-portal-token-01";

/// Starts a function binary with the environment Lambda gives it, plus the grid's
/// configuration as `infra/template.yaml` sets it, pointed at moto.
fn start_function(
    name: &str,
    binary: &str,
    port: u16,
    moto: &str,
    names: &AwsNames,
    ledger: &str,
    log: std::fs::File,
) -> Child {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt/{name}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", moto)
        .env("GRID_STORE", "aws")
        .env("LEDGER_URL", ledger)
        .env("LEDGER_KEY", LEDGER_KEY)
        .env("PORTAL_TOKEN", PORTAL_TOKEN)
        .env("RUST_LOG", "warn")
        .envs(names.to_vars())
        .stdout(Stdio::null())
        .stderr(log);
    command.spawn().unwrap_or_else(|e| panic!("cannot start the {name} function: {e}"))
}

async fn send(http: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    // The first request to a function waits for it to attach to the emulator.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut request = http.request(method.clone(), &url);
        if let Some(body) = &body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                return (status, serde_json::from_str(&text).unwrap_or(Value::String(text)));
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying {url}: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{url}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_functions_register_store_list_and_delete_through_the_lambda_path() {
    use reqwest::Method;
    let stack = LambdaStack::start().await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();

    let (status, about) = send(&http, Method::GET, stack.url("/"), None).await;
    assert_eq!((status, &about["name"]), (200, &json!("energy-grid")));

    let (status, registered) =
        send(&http, Method::PUT, stack.url("/registration/consumer-0001"), Some(json!({"itemType": "consumer"}))).await;
    assert_eq!(status, 201, "{registered}");
    let side_key = registered["sideKey"].as_str().expect("a return channel side key").to_owned();

    // The operator portal's API answers through the Lambda path, behind its token.
    let (status, _) = send(&http, Method::GET, stack.url("/portal/api/overview"), None).await;
    assert_eq!(status, 401);
    let overview: Value = http
        .get(stack.url("/portal/api/overview"))
        .bearer_auth(PORTAL_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(overview["consumers"]["active"], 1, "{overview}");

    // Its storage is the consumer's: writes carry the return channel's side key.
    for i in 0..3 {
        let answer = http
            .put(stack.url(&format!("/storage/consumer-0001/notes/n{i}")))
            .header("X-Side-Key", &side_key)
            .json(&json!({"i": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let (status, _) =
        send(&http, Method::PUT, stack.url("/storage/consumer-0001/notes/n9"), Some(json!({"stranger": true}))).await;
    assert_eq!(status, 401);
    let (status, page) =
        send(&http, Method::GET, stack.url("/storage/consumer-0001/notes?page=1&pageSize=2"), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((&page["ids"], &page["totalItems"], &page["totalPages"]), (&json!(["n2"]), &json!(3), &json!(2)));
    let deleted =
        http.delete(stack.url("/storage/consumer-0001/notes/n0")).header("X-Side-Key", &side_key).send().await.unwrap();
    assert_eq!(deleted.status(), 200);

    // The return channel's hello is in DynamoDB, readable through the channels function.
    let root = registered["root"].as_str().unwrap();
    let access = grid_core_access(root, &side_key);
    let address = access.address(0).to_string();
    let (status, found) = send(
        &http,
        Method::POST,
        stack.url("/channels/messages/batch-get"),
        Some(json!({"addresses": [address.clone()]})),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert!(found["messages"][&address].is_object(), "{found}");

    let (status, removed) =
        send(&http, Method::DELETE, stack.url(&format!("/registration/consumer-0001/{side_key}")), None).await;
    assert_eq!((status, &removed["itemsDeleted"]), (200, &json!(2)), "{removed}");
    let (status, _) = send(&http, Method::GET, stack.url("/storage/consumer-0001/notes"), None).await;
    assert_eq!(status, 404);

    // Bad input is answered by the function with the grid's own 4xx, not a Lambda error.
    let (status, refused) =
        send(&http, Method::PUT, stack.url("/registration/short"), Some(json!({"itemType": "producer"}))).await;
    assert_eq!((status, &refused["success"]), (400, &json!(false)), "{refused}");
}

fn grid_core_access(root: &str, side_key: &str) -> ChannelAccess {
    ChannelAccess::new(ChannelRoot::parse(root).unwrap(), SideKey::parse(side_key).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_function_takes_its_schedule_and_the_poller_an_sqs_batch() {
    let stack = LambdaStack::start().await;
    let answer = |job: &str, event: &str| {
        let output = stack.invoke(job, event);
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "{job} {event}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_str::<Value>(stdout.trim()).unwrap_or_else(|_| panic!("{job}: {stdout}"))
    };
    for event in ["scheduler.json", "scheduled-event.json"] {
        // Nothing is registered: nothing unread to poll, nothing to settle.
        assert_eq!(
            answer("poller", event),
            json!({"job": "poller", "unread": 0, "registrations": 0, "messages": 0, "markedRead": 0, "expired": 0})
        );
        assert_eq!(answer("settlement", event), json!({"job": "settlement", "settled": []}));
        assert_eq!(
            answer("batch-monitor", event),
            json!({"job": "batch-monitor", "skipped": false, "asked": 0, "stalled": 0, "verified": 0, "rejected": 0,
                   "payoutsSubmitted": 0, "payoutsCommitted": 0, "payoutsRefused": 0})
        );
    }
    // The rare full sweep: every registration (none).
    assert_eq!(answer("poller", "full-sweep.json"), json!({"job": "poller-full", "registrations": 0, "messages": 0}));
    // The fixture holds one (empty) work message and one that is not: only the second
    // is reported, so SQS delivers just it again (and after five tries to the DLQ).
    assert_eq!(
        answer("poller", "sqs-batch.json"),
        json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]})
    );
    // And the log says which message failed and why.
    let failure = stack.log("poller").lines().find(|line| line.contains("polling work failed")).map(str::to_owned);
    let failure = failure.unwrap_or_else(|| panic!("no failure logged:\n{}", stack.log("poller")));
    assert!(failure.contains("2e1424d4-f796-459a-8184-9c92662be6da"), "{failure}");
    assert!(failure.contains("not polling work"), "{failure}");
}

#[cfg(target_os = "linux")]
#[test]
fn every_function_is_linked_at_a_fixed_address_so_nothing_is_relocated_at_start() {
    // ELF header: e_type, two bytes at offset 16; 2 is a fixed-address executable
    // (ET_EXEC), 3 a position-independent one (ET_DYN). See functions/build.rs.
    for (name, binary) in FUNCTIONS {
        let header = std::fs::read(binary).expect("the function's binary");
        let e_type = u16::from_le_bytes([header[16], header[17]]);
        assert_eq!(e_type, 2, "{name} is not linked at a fixed address (e_type {e_type})");
    }
}
