//! The harness for black-box tests: a real grid on a real socket with a fresh store.
//!
//! [`TestGrid::start`] builds the same router `gridctl serve` runs, over a SQLite
//! file in a new temporary directory, and serves it on `127.0.0.1:0`. Tests talk to
//! it only over HTTP: through reqwest for ordinary requests, and through
//! [`TestGrid::raw`] for requests an HTTP library would "fix" first (dot segments,
//! odd encodings), which are written byte for byte to a TCP socket.
//!
//! # Layout
//!
//! - this file: [`TestGrid`] and the helpers every suite shares;
//! - the suites, one folder each with its `main.rs`: `api/` (the HTTP APIs, by API, and
//!   their edges), `market/` (settlement and the money through the jobs, the cut-off
//!   harnesses), `monitor/` (the batch monitor against a ledger), `portal/` (the
//!   operator's and the members' pages), `agents/` (devices against a grid),
//!   `interop/` (the channel protocol against an independent Python implementation),
//!   `soak/` (the serverless path under AWS's faults, against a calm run's books);
//! - `events/`: the Lambda events the functions' tests invoke with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use grid_app::jobs::{PollReport, Poller, Settler};
use grid_app::{GridConfig, Stores};
use grid_client::channels::{ChannelClient, ChannelReader, ChannelWriter, HttpChannelClient, ReadBatch};
use grid_core::channel::{ChannelAccess, ChannelSecrets, ChannelSeed, Command, UnclaimedChannels, random_nonce};
use grid_core::{EpochMs, SideKey};
use grid_store::Received;
use grid_store::contract::moto::Moto;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running grid, stopped when dropped.
pub struct TestGrid {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    /// The grid's stores, for the jobs and for checking what they did.
    pub stores: Stores,
    pub config: GridConfig,
    _data: TempDir,
    _moto: Option<Moto>,
    server: JoinHandle<()>,
}

/// A response: its status and its body parsed as JSON (`Value::Null` if it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The `message` field, which every grid response carries.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    /// Asserts the status and the grid's response shape (`success` agrees with the status).
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(
            self.body["success"],
            Value::Bool(status < 400),
            "success must agree with the status; body: {}",
            self.body
        );
        assert!(!self.message().is_empty(), "every response carries a message: {}", self.body);
        self
    }
}

/// The configuration of a grid over SQLite in `data`, listening on a free port.
fn sqlite_config(vars: &[(&str, &str)], data: &TempDir) -> GridConfig {
    let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("GRID_DATA_DIR".into(), data.path().display().to_string());
    env.insert("GRID_LISTEN".into(), "127.0.0.1:0".into());
    GridConfig::from_vars(&env).expect("test configuration is valid")
}

impl TestGrid {
    /// A grid with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A grid with some configuration variables set (e.g. a small body limit).
    pub async fn start_with(vars: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().expect("temporary directory");
        let config = sqlite_config(vars, &data);
        let stores = grid_app::open_stores(&config).await.expect("store opens");
        Self::serve(config, stores, data, None).await
    }

    /// A grid over SQLite whose writes `faults` can fail, one at a time.
    pub async fn start_with_faults(vars: &[(&str, &str)], faults: &grid_store::faults::FaultPlan) -> Self {
        let data = tempfile::tempdir().expect("temporary directory");
        let config = sqlite_config(vars, &data);
        let db =
            grid_store::sqlite::SqliteDb::open_with_faults(data.path(), faults.clone()).await.expect("store opens");
        Self::serve(config, Stores::on_sqlite(&db), data, None).await
    }

    /// A grid over DynamoDB, S3 and SQS on moto, with fresh resources.
    pub async fn start_on_moto(vars: &[(&str, &str)]) -> Self {
        Self::on_moto(vars, None).await
    }

    /// A grid on moto whose write requests `faults` can fail, one at a time.
    pub async fn start_on_moto_with_faults(vars: &[(&str, &str)], faults: &grid_store::faults::FaultPlan) -> Self {
        Self::on_moto(vars, Some(faults)).await
    }

    async fn on_moto(vars: &[(&str, &str)], faults: Option<&grid_store::faults::FaultPlan>) -> Self {
        let moto = Moto::start();
        let (clients, names) = moto.fresh_resources().await;
        let clients = match faults {
            Some(faults) => grid_store::aws::AwsClients::with_faults(&moto.sdk_config(), faults),
            None => clients,
        };
        let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("GRID_STORE".into(), "aws".into());
        env.extend(names.to_vars().into_iter().map(|(k, v)| (k.to_owned(), v)));
        env.insert("GRID_LISTEN".into(), "127.0.0.1:0".into());
        let config = GridConfig::from_vars(&env).expect("test configuration is valid");
        let stores = Stores::on_aws(&clients, &names, config.market.reading_shards);
        Self::serve(config, stores, tempfile::tempdir().expect("temporary directory"), Some(moto)).await
    }

    async fn serve(config: GridConfig, stores: Stores, data: TempDir, moto: Option<Moto>) -> Self {
        let app = grid_app::router(grid_app::app_state(&stores, &config), &config);
        let listener = TcpListener::bind(config.listen).await.expect("bind a free port");
        let addr = listener.local_addr().unwrap();
        // The very edges `gridctl serve` has: connection bound, deadlines, JSON refusals.
        let limits = config.server;
        let server = tokio::spawn(grid_app::server::serve(listener, app, limits, std::future::pending()));
        Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            stores,
            config,
            _data: data,
            _moto: moto,
            server,
        }
    }

    /// The poller, as `serve` and the Lambda functions run it.
    pub fn poller(&self) -> Poller {
        grid_app::jobs::Poller::new(&self.stores, &self.config)
    }

    /// Polls every channel once, as the full sweep does (dispatch, then drain the work,
    /// what the node queued as it stored envelopes included).
    pub async fn poll(&self) -> PollReport {
        let poller = self.poller();
        poller.dispatch().await.unwrap();
        poller.drain(grid_core::EpochMs::now()).await.unwrap()
    }

    /// Settlement, as `serve` and the Lambda functions run it.
    pub fn settler(&self) -> Settler {
        grid_app::jobs::Settler::new(&self.stores, &self.config)
    }

    /// Sends a request with an optional JSON body and extra headers.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request.send().await.expect("request reaches the grid")).await
    }

    /// Sends a request whose body is exactly these bytes.
    pub async fn send_bytes(&self, method: &str, path: &str, body: Vec<u8>) -> Reply {
        self.send_bytes_with(method, path, body, &[]).await
    }

    /// Sends a request whose body is exactly these bytes, with extra headers.
    pub async fn send_bytes_with(&self, method: &str, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::reply(request.send().await.expect("request reaches the grid")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None, &[]).await
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    /// Writes `request_line` (e.g. `GET /a/../b HTTP/1.1`) and a body to the socket
    /// as is, with no normalisation of the path.
    pub async fn raw(&self, request_line: &str, body: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let head = format!(
            "{request_line}\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse_raw_response(&raw)
    }
}

/// A channel with a fixed seed, so tests can name it.
pub fn channel(seed: u8, side_key: &str) -> ChannelSecrets {
    ChannelSecrets::new(&ChannelSeed::from_bytes([seed; 32]), SideKey::parse(side_key).expect("a valid side key"))
}

impl TestGrid {
    /// A client for this grid's channel node over HTTP, as a device agent uses it.
    pub fn channel_client(&self) -> Arc<dyn ChannelClient> {
        Arc::new(HttpChannelClient::new(self.base.clone(), self.http.clone()))
    }

    /// Publishes `commands` on `channel` from index `from`, through the node's HTTP API.
    pub async fn publish(&self, channel: &ChannelSecrets, from: u64, commands: &[Command]) -> u64 {
        let mut writer = ChannelWriter::new(channel.clone(), from, self.channel_client());
        for command in commands {
            writer.publish(command).await.expect("publishing through the node works");
        }
        writer.next_index()
    }

    /// What the node does with `command` at `index` of `channel` received at `at`, with
    /// its notification lost: the envelope stored and the channel's head raised, and
    /// nobody told.
    pub async fn receive_unannounced(&self, channel: &ChannelSecrets, index: u64, command: &Command, at: EpochMs) {
        let envelope = channel.seal(index, command.to_json().as_bytes(), random_nonce()).expect("sealed");
        let message = [(channel.access().address(index), envelope)];
        let received = self.stores.channel_messages.receive(&message, at, UnclaimedChannels::DEFAULT).await;
        assert!(matches!(received.as_deref(), Ok([Received::Stored { .. }])), "stored: {received:?}");
    }

    /// Opens `channel` with `hello` at index 0 (once; repeating is harmless).
    pub async fn open_channel(&self, channel: &ChannelSecrets) {
        let mut writer = ChannelWriter::new(channel.clone(), 0, self.channel_client());
        writer.publish_once(&Command::Hello).await.expect("hello is published");
    }

    /// Reads a channel (by root and side key) from `from` through the node's HTTP API.
    pub async fn read(&self, access: &ChannelAccess, from: u64, max: u64) -> ReadBatch {
        ChannelReader::new(access.clone(), self.channel_client()).read(from, max).await.expect("the node answers")
    }
}

impl Drop for TestGrid {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Parses an HTTP/1.1 response read to EOF (`Connection: close`), chunked or not.
pub fn parse_raw_response(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete HTTP response");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Reply { status, body: serde_json::from_str(&body).unwrap_or(Value::Null) }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
