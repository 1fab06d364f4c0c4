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

use anyhow::{Context, bail};
use grid_app::{GridConfig, telemetry};
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
const ROOT: &str = "5e1f0b6c7a7d4c3e9b2a18f0d6c4e2a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1";
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

    let walkthrough = Walkthrough { base: base.clone(), http: reqwest::Client::new() }.run().await;
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
    println!(
        "  curl -X PUT {base}/registration/my-meter-0001 -H 'content-type: application/json' -d '{{\"itemType\":\"consumer\"}}'"
    );
    println!("  curl -X PUT {base}/storage/my-meter-0001/notes/first -d '{{\"hello\":\"grid\"}}'");
    println!("  curl '{base}/storage/my-meter-0001/notes?page=0&pageSize=10'");
    println!("  curl {base}/openapi.json");
    println!("Press Ctrl-C to stop.");
    serving.await.context("the demo server stopped unexpectedly")?
}

struct Walkthrough {
    base: String,
    http: reqwest::Client,
}

impl Walkthrough {
    async fn run(&self) -> anyhow::Result<()> {
        self.step("What is running?", Method::GET, "/", None, &[], StatusCode::OK).await?;
        let registration =
            json!({"itemName": "Solar farm 01", "itemType": "producer", "root": ROOT, "sideKey": SIDE_KEY});
        self.step(
            "Register a producer with its channel",
            Method::PUT,
            &format!("/registration/{PRODUCER}"),
            Some(registration),
            &[],
            StatusCode::CREATED,
        )
        .await?;
        self.step(
            "Changing it without its side key is refused",
            Method::PUT,
            &format!("/registration/{PRODUCER}"),
            Some(json!({"itemName": "Hijacked", "itemType": "producer"})),
            &[],
            StatusCode::UNAUTHORIZED,
        )
        .await?;
        self.step(
            "With the side key in X-Side-Key it may be renamed",
            Method::PUT,
            &format!("/registration/{PRODUCER}"),
            Some(json!({"itemName": "Solar farm 01 (north)", "itemType": "producer"})),
            &[("x-side-key", SIDE_KEY)],
            StatusCode::OK,
        )
        .await?;

        println!("Store twelve hourly readings in the storage API ...");
        for hour in 0..12 {
            let item = json!({"startTime": 1_795_860_000_000u64 + hour * 3_600_000, "kWh": 1.5 + hour as f64 / 4.0});
            self.request(Method::PUT, &format!("/storage/item/{PRODUCER}/readings/hour-{hour:02}"), Some(item), &[])
                .await?
                .expect(StatusCode::OK)?;
        }
        println!("  12 × PUT {}/storage/item/{PRODUCER}/readings/hour-NN → 200\n", self.base);

        self.step(
            "List them, five per page",
            Method::GET,
            &format!("/storage/{PRODUCER}/readings?page=0&pageSize=5"),
            None,
            &[],
            StatusCode::OK,
        )
        .await?;
        self.step(
            "The last, partial page",
            Method::GET,
            &format!("/storage/{PRODUCER}/readings?page=2&page-size=5"),
            None,
            &[],
            StatusCode::OK,
        )
        .await?;
        self.step(
            "Read one item",
            Method::GET,
            &format!("/storage/{PRODUCER}/readings/hour-03"),
            None,
            &[],
            StatusCode::OK,
        )
        .await?;
        self.step(
            "Delete it",
            Method::DELETE,
            &format!("/storage/{PRODUCER}/readings/hour-03"),
            None,
            &[],
            StatusCode::OK,
        )
        .await?;
        self.step(
            "Bad input gets a clear 4xx",
            Method::GET,
            &format!("/storage/{PRODUCER}/readings?pageSize=500"),
            None,
            &[],
            StatusCode::BAD_REQUEST,
        )
        .await?;
        self.step(
            "Delete the whole context",
            Method::DELETE,
            &format!("/storage/{PRODUCER}/readings"),
            None,
            &[],
            StatusCode::OK,
        )
        .await?;
        self.step(
            "Remove the registration with its side key",
            Method::DELETE,
            &format!("/registration/{PRODUCER}/{SIDE_KEY}"),
            None,
            &[],
            StatusCode::OK,
        )
        .await?;
        self.step(
            "A removed registration no longer exists for the APIs",
            Method::GET,
            &format!("/storage/{PRODUCER}/readings"),
            None,
            &[],
            StatusCode::NOT_FOUND,
        )
        .await?;
        Ok(())
    }

    async fn step(
        &self,
        title: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
        expected: StatusCode,
    ) -> anyhow::Result<()> {
        println!("{title}:");
        let mut curl = format!("  curl -X {method} '{}{path}'", self.base);
        for (name, value) in headers {
            curl.push_str(&format!(" -H '{name}: {value}'"));
        }
        if let Some(body) = &body {
            curl.push_str(&format!(" -d '{body}'"));
        }
        println!("{curl}");
        let answer = self.request(method, path, body, headers).await?;
        println!("  → {} {}\n", answer.status.as_u16(), answer.body);
        answer.expect(expected)
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
