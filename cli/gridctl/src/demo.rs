//! `gridctl demo`: start a grid on a fresh store and walk through its APIs.
//!
//! Each step is a real HTTP request against the running grid, printed as the curl
//! command that does the same, with the answer. A step that gets an unexpected
//! status stops the demo with an error, so the demo doubles as a smoke test. The
//! trading demo (producers, consumers, settlement) replaces this walkthrough once
//! the money engine exists.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use grid_app::channels::{ChannelClient, ChannelReader, ChannelWriter, HttpChannelClient};
use grid_app::{GridConfig, telemetry};
use grid_core::channel::{ChannelAccess, ChannelSecrets, ChannelSeed, Command};
use grid_core::{ChannelRoot, SideKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::serve::Server;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address the demo grid listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Keep the demo's data here instead of in a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Stop after the walkthrough instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

const PRODUCER: &str = "solar-farm-01";
const CONSUMER: &str = "household-0042";
const SIDE_KEY: &str = "DEMOSIDEKEY0123456789";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("GRID_LISTEN".into(), args.listen.to_string());
    vars.insert("GRID_DATA_DIR".into(), data_dir.display().to_string());
    let config = GridConfig::from_vars(&vars).context("bad configuration")?;
    // The walkthrough prints what matters; logs show only warnings unless RUST_LOG asks.
    telemetry::init(config.log_format, "warn");

    let server = Server::start(&config)
        .await
        .with_context(|| format!("cannot start the demo grid (is {} in use? try --listen)", args.listen))?;
    let base = format!("http://{}", server.addr);
    println!("energy-grid demo: a grid is listening on {base} (data in {})\n", data_dir.display());
    let serving = tokio::spawn(server.run_until_shutdown());

    let http = reqwest::Client::new();
    let channels: Arc<dyn ChannelClient> = Arc::new(HttpChannelClient::new(base.clone(), http.clone()));
    let walkthrough = Walkthrough { base: base.clone(), http, channels }.run().await;
    if let Err(e) = walkthrough {
        serving.abort();
        return Err(e);
    }
    if args.exit {
        serving.abort();
        println!("demo finished.");
        return Ok(());
    }
    println!("\nThe grid keeps running at {base}. Try it yourself, for example:");
    println!("  curl -X PUT {base}/registration/my-meter-0001 -d '{{\"itemType\":\"consumer\"}}'");
    println!("  curl -X PUT {base}/storage/my-meter-0001/notes/first -d '{{\"hello\":\"grid\"}}'");
    println!("  curl '{base}/storage/my-meter-0001/notes?page=0&pageSize=10'");
    println!("  curl {base}/openapi.json");
    println!("Press Ctrl-C to stop.");
    serving.await.context("the demo server stopped unexpectedly")?
}

/// One request of the walkthrough: what it shows, and what must come back.
struct Step<'a> {
    title: &'a str,
    method: Method,
    path: String,
    body: Option<Value>,
    headers: &'a [(&'a str, &'a str)],
    expected: StatusCode,
}

impl<'a> Step<'a> {
    fn new(title: &'a str, method: Method, path: String, expected: StatusCode) -> Self {
        Self { title, method, path, body: None, headers: &[], expected }
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

struct Walkthrough {
    base: String,
    http: reqwest::Client,
    channels: Arc<dyn ChannelClient>,
}

impl Walkthrough {
    async fn run(&self) -> anyhow::Result<()> {
        use Method as M;
        use StatusCode as S;
        self.step(Step::new("What is running?", M::GET, "/".into(), S::OK)).await?;

        println!("The producer opens its channel: `hello`, sealed and signed, attached at index 0 ...");
        let channel = ChannelSecrets::new(&ChannelSeed::generate(), SideKey::parse(SIDE_KEY)?);
        let mut writer = ChannelWriter::new(channel.clone(), 0, self.channels.clone());
        let index = writer.publish(&Command::Hello).await.context("publishing hello")?;
        println!("  PUT {}/channels/messages/{} → 201\n", self.base, channel.access().address(index));

        let producer = json!({"itemName": "Solar farm 01", "itemType": "producer",
            "root": channel.root().as_str(), "sideKey": SIDE_KEY});
        let register = format!("/registration/{PRODUCER}");
        self.step(
            Step::new("Register it with its channel (the grid checks the hello)", M::PUT, register.clone(), S::CREATED)
                .body(producer),
        )
        .await?;
        self.step(
            Step::new("Changing it without its side key is refused", M::PUT, register.clone(), S::UNAUTHORIZED)
                .body(json!({"itemName": "Hijacked", "itemType": "producer"})),
        )
        .await?;
        self.step(
            Step::new("With the side key in X-Side-Key it may be renamed", M::PUT, register, S::OK)
                .body(json!({"itemName": "Solar farm 01 (north)", "itemType": "producer"}))
                .headers(&[("x-side-key", SIDE_KEY)]),
        )
        .await?;

        let answer = self
            .step(
                Step::new(
                    "Register a consumer: the grid opens a return channel for it",
                    M::PUT,
                    format!("/registration/{CONSUMER}"),
                    S::CREATED,
                )
                .body(json!({"itemType": "consumer"})),
            )
            .await?;
        let answer: Value = serde_json::from_str(&answer.body)?;
        let return_channel = ChannelAccess::new(
            ChannelRoot::parse(answer["root"].as_str().unwrap_or_default())?,
            SideKey::parse(answer["sideKey"].as_str().unwrap_or_default())?,
        );
        println!(
            "The consumer reads its return channel with that root and side key: {:?}\n",
            self.read(&return_channel).await?
        );

        println!("Store twelve hourly readings in the storage API ...");
        for hour in 0..12 {
            let item = json!({"startTime": 1_795_860_000_000u64 + hour * 3_600_000, "kWh": 1.5 + hour as f64 / 4.0});
            self.request(M::PUT, &format!("/storage/item/{PRODUCER}/readings/hour-{hour:02}"), Some(item), &[])
                .await?
                .expect(S::OK)?;
        }
        println!("  12 × PUT {}/storage/item/{PRODUCER}/readings/hour-NN → 200\n", self.base);

        let readings = format!("/storage/{PRODUCER}/readings");
        self.step(Step::new("List them, five per page", M::GET, format!("{readings}?page=0&pageSize=5"), S::OK))
            .await?;
        self.step(Step::new("The last, partial page", M::GET, format!("{readings}?page=2&page-size=5"), S::OK)).await?;
        self.step(Step::new("Read one item", M::GET, format!("{readings}/hour-03"), S::OK)).await?;
        self.step(Step::new("Delete it", M::DELETE, format!("{readings}/hour-03"), S::OK)).await?;
        self.step(Step::new("Bad input gets a clear 4xx", M::GET, format!("{readings}?pageSize=500"), S::BAD_REQUEST))
            .await?;
        self.step(Step::new("Delete the whole context", M::DELETE, readings.clone(), S::OK)).await?;
        self.step(Step::new(
            "Remove the producer with its side key",
            M::DELETE,
            format!("/registration/{PRODUCER}/{SIDE_KEY}"),
            S::OK,
        ))
        .await?;
        self.step(Step::new("A removed registration no longer exists for the APIs", M::GET, readings, S::NOT_FOUND))
            .await?;

        let consumer_key = return_channel.side_key().expose().to_owned();
        self.step(Step::new(
            "The consumer leaves, proving itself with its return channel's key",
            M::DELETE,
            format!("/registration/{CONSUMER}/{consumer_key}"),
            S::OK,
        ))
        .await?;
        println!("Its return channel now ends with goodbye: {:?}", self.read(&return_channel).await?);
        Ok(())
    }

    /// The command names on a channel, from index 0.
    async fn read(&self, access: &ChannelAccess) -> anyhow::Result<Vec<&'static str>> {
        let read = ChannelReader::new(access.clone(), self.channels.clone()).read(0, 100).await?;
        Ok(read.messages.iter().map(|m| m.command.name()).collect())
    }

    async fn step(&self, step: Step<'_>) -> anyhow::Result<Answer> {
        println!("{}:", step.title);
        let mut curl = format!("  curl -X {} '{}{}'", step.method, self.base, step.path);
        for (name, value) in step.headers {
            curl.push_str(&format!(" -H '{name}: {value}'"));
        }
        if let Some(body) = &step.body {
            curl.push_str(&format!(" -d '{body}'"));
        }
        println!("{curl}");
        let answer = self.request(step.method, &step.path, step.body, step.headers).await?;
        println!("  → {} {}\n", answer.status.as_u16(), answer.body);
        answer.expect(step.expected)?;
        Ok(answer)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path} failed"))?;
        let status = response.status();
        let body = response.text().await?;
        Ok(Answer { what: format!("{method} {path}"), status, body })
    }
}

struct Answer {
    what: String,
    status: StatusCode,
    body: String,
}

impl Answer {
    fn expect(&self, expected: StatusCode) -> anyhow::Result<()> {
        if self.status != expected {
            bail!("{} answered {} instead of {expected}: {}", self.what, self.status, self.body);
        }
        Ok(())
    }
}
