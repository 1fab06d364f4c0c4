//! Ingestion on the embedded default: channels publish through the grid's channel node
//! over HTTP (as devices do), then the poller reads every channel and stores the
//! readings. Messages per second for each half and end to end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use grid_app::channels::{ChannelClient, ChannelWriter, HttpChannelClient};
use grid_app::{GridConfig, Stores};
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command, Reading};
use grid_core::{ChannelCredentials, EpochMs, ItemType, Registration, RegistrationId, SideKey, Wh};
use tokio::net::TcpListener;

use super::Figure;

pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (channels, per_channel) = if quick { (20, 100) } else { (100, 300) };
    let dir = tempfile::tempdir()?;
    let vars: HashMap<String, String> = [
        ("GRID_DATA_DIR".to_owned(), dir.path().display().to_string()),
        ("GRID_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
    ]
    .into();
    let config = GridConfig::from_vars(&vars)?;
    let stores = Stores::open(&config).await?;
    let listener = TcpListener::bind(config.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = grid_app::router(stores.app_state(&config), &config);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let now = EpochMs::now().get();
    let first = now - now % 60_000 - (per_channel as u64 + 10) * 60_000;
    let mut writers = Vec::new();
    let http = reqwest::Client::new();
    let client: Arc<dyn ChannelClient> = Arc::new(HttpChannelClient::new(base.clone(), http));
    for c in 0..channels {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(c as u64 + 1).to_le_bytes());
        let secrets =
            ChannelSecrets::new(&ChannelSeed::from_bytes(seed), SideKey::parse(format!("BenchIngestSideKey{c:06}"))?);
        let credentials =
            ChannelCredentials { root: secrets.root().clone(), side_key: secrets.access().side_key().clone() };
        let id = RegistrationId::parse(format!("meter-{c:06}"))?;
        let at = EpochMs::parse(now as i64)?;
        stores.registrations.insert(&Registration::new(id, ItemType::Consumer, None, Some(credentials), at)).await?;
        let mut writer = ChannelWriter::new(secrets, 0, client.clone());
        writer.publish(&Command::Hello).await?;
        writers.push(writer);
    }

    let publishing = Instant::now();
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut writer| {
            tokio::spawn(async move {
                for m in 0..per_channel as u64 {
                    let at = |ms: u64| EpochMs::parse(ms as i64).expect("a valid time");
                    let start = first + m * 60_000;
                    let reading = Reading { start: at(start), end: at(start + 60_000), energy: Wh::new(100 + m) };
                    writer.publish(&Command::Usage(reading)).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let published = publishing.elapsed().as_secs_f64();

    let polling = Instant::now();
    let poller = stores.poller(&config);
    poller.dispatch().await?;
    let report = poller.drain(EpochMs::now()).await?;
    let polled = polling.elapsed().as_secs_f64();
    server.abort();
    let messages = (channels * per_channel) as f64;
    anyhow::ensure!(report.stored as f64 == messages, "every reading stored once: {report:?}");
    Ok(vec![
        Figure::new(
            format!("publish through the node ({channels} channels × {per_channel}, HTTP)"),
            messages / published,
            "msg/s",
        ),
        Figure::new("poll: read, open, store", messages / polled, "msg/s"),
        Figure::new("end to end (publish, then poll)", messages / (published + polled), "msg/s").at_least(30_000.0),
    ])
}
