//! Ingestion on the embedded default: devices seal their readings (on their own
//! hardware, so timed apart), publish them through the grid's channel node over HTTP,
//! 100 envelopes per `batch-put`, then the poller reads every channel and stores the
//! readings. Messages per second for each half and end to end, and for comparison the
//! node taking one envelope per `PUT`, as a device with a single reading publishes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use grid_app::jobs::Poller;
use grid_app::{GridConfig, app_state, open_stores};
use grid_client::channels::{Attached, ChannelClient, ChannelWriter, HttpChannelClient};
use grid_core::channel::{
    ChannelSecrets, ChannelSeed, Command, Envelope, EnvelopeError, MessageAddress, Reading, random_nonce,
};
use grid_core::{ChannelCredentials, EpochMs, ItemType, Registration, RegistrationId, SideKey, Wh};
use tokio::net::TcpListener;

use super::Figure;

/// Messages of each channel published one per request (the rest go in batches).
const SINGLE_PER_CHANNEL: usize = 20;

pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (channels, per_channel) = if quick { (20, 100) } else { (100, 300) };
    let dir = tempfile::tempdir()?;
    let vars: HashMap<String, String> = [
        ("GRID_DATA_DIR".to_owned(), dir.path().display().to_string()),
        ("GRID_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        // The devices all publish from loopback, as fast as the grid takes it.
        ("GRID_WRITE_RATE_PER_CLIENT".to_owned(), "100000000".to_owned()),
    ]
    .into();
    let config = GridConfig::from_vars(&vars)?;
    let stores = open_stores(&config).await?;
    let listener = TcpListener::bind(config.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = grid_app::router(app_state(&stores, &config), &config);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let now = EpochMs::now().get();
    let first = now - now % 60_000 - (per_channel as u64 + 10) * 60_000;
    let mut channel_secrets = Vec::new();
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
        // As the registry does: the registration, and its channel claimed at the node.
        stores.channel_messages.claim(&credentials.root, &id, None).await?;
        stores.registrations.insert(&Registration::new(id, ItemType::Consumer, None, Some(credentials), at)).await?;
        let mut writer = ChannelWriter::new(secrets.clone(), 0, client.clone());
        writer.publish(&Command::Hello).await?;
        channel_secrets.push(secrets);
    }

    // What the devices do on their own hardware: seal every reading.
    let sealing = Instant::now();
    let sealed: Vec<Vec<(MessageAddress, Envelope)>> = channel_secrets
        .iter()
        .map(|secrets| {
            (0..per_channel as u64)
                .map(|m| {
                    let at = |ms: u64| EpochMs::parse(ms as i64).expect("a valid time");
                    let start = first + m * 60_000;
                    let reading = Reading { start: at(start), end: at(start + 60_000), energy: Wh::new(100 + m) };
                    let index = m + 1;
                    let envelope = secrets.seal(index, Command::Usage(reading).to_json().as_bytes(), random_nonce())?;
                    Ok((secrets.access().address(index), envelope))
                })
                .collect::<Result<Vec<_>, EnvelopeError>>()
        })
        .collect::<Result<_, _>>()?;
    let sealed_in = sealing.elapsed().as_secs_f64();

    // One envelope per request, as a device with a single new reading publishes: a
    // sample of the channels' first messages, timed on its own.
    let sample: Vec<(MessageAddress, Envelope)> =
        sealed.iter().flat_map(|channel| channel[..SINGLE_PER_CHANNEL].iter().cloned()).collect();
    let single = Instant::now();
    let tasks: Vec<_> = sample
        .chunks(SINGLE_PER_CHANNEL)
        .map(|messages| {
            let (client, messages) = (client.clone(), messages.to_vec());
            tokio::spawn(async move {
                for (address, envelope) in &messages {
                    client.attach(address, envelope).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let single_in = single.elapsed().as_secs_f64();

    let publishing = Instant::now();
    let tasks: Vec<_> = sealed
        .into_iter()
        .map(|messages| {
            let client = client.clone();
            tokio::spawn(async move {
                let rest = &messages[SINGLE_PER_CHANNEL..];
                let attached = client.attach_many(rest).await?;
                anyhow::ensure!(attached.iter().all(|a| *a == Attached::Stored), "every envelope stored");
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let published = publishing.elapsed().as_secs_f64();

    // The node queued each channel once, as its first envelope turned it unread.
    let polling = Instant::now();
    let poller = Poller::new(&stores, &config);
    let report = poller.drain(EpochMs::now()).await?;
    let polled = polling.elapsed().as_secs_f64();
    server.abort();
    let messages = (channels * per_channel) as f64;
    let batched = messages - (channels * SINGLE_PER_CHANNEL) as f64;
    anyhow::ensure!(report.stored as f64 == messages, "every reading stored once: {report:?}");
    Ok(vec![
        Figure::new(
            format!("devices seal ({channels} channels × {per_channel}; their own CPU)"),
            messages / sealed_in,
            "msg/s",
        ),
        Figure::new(
            format!("publish through the node, one per PUT ({channels} × {SINGLE_PER_CHANNEL})"),
            (channels * SINGLE_PER_CHANNEL) as f64 / single_in,
            "msg/s",
        ),
        Figure::new("publish through the node, 100 per batch-put", batched / published, "msg/s"),
        Figure::new("poll: read, open, store", messages / polled, "msg/s").at_least(65_000.0),
        Figure::new(
            "end to end (batch-put, then poll)",
            1.0 / (1.0 / (batched / published) + 1.0 / (messages / polled)),
            "msg/s",
        )
        .at_least(40_000.0),
    ])
}
