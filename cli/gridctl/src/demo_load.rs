//! HTTP clients storing and reading storage items while the demo trades: the load part
//! of `make soak`. Each client registers its own registration, then writes a 200-byte
//! item and reads it back, over and over; what it reads must be what it wrote. Each
//! speaks from its own address where it can ([`DeviceAddresses`]), and when the grid's
//! write rate per client answers 429 it waits the `Retry-After` out, as a device should:
//! those answers are counted apart, not as errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::device_addresses::DeviceAddresses;

/// What the clients saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LoadReport {
    pub requests: u64,
    /// Answers other than success, by status (`"connection"` when there was none).
    pub errors: BTreeMap<String, u64>,
    /// Items read back different from what was written: lost writes.
    pub lost: u64,
    /// Writes the grid's rate per client refused (429), waited out and not counted above.
    pub throttled: u64,
}

/// Clients running until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<anyhow::Result<LoadReport>>>,
}

impl Load {
    pub async fn start(base: &str, clients: usize, addresses: &mut DeviceAddresses) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::with_capacity(clients);
        for c in 0..clients {
            let http = addresses.client();
            let id = format!("loadclient-{c:04}");
            let registered = http
                .put(format!("{base}/registration/{id}"))
                .json(&json!({"itemType": "consumer", "itemName": "storage load"}))
                .send()
                .await?;
            anyhow::ensure!(registered.status().is_success(), "cannot register {id}: {}", registered.status());
            let body: serde_json::Value = registered.json().await?;
            let key = body["sideKey"].as_str().unwrap_or_default().to_owned();
            let (http, stop, base) = (http.clone(), stop.clone(), base.to_owned());
            handles.push(tokio::spawn(async move { client(&http, &base, &id, &key, &stop).await }));
        }
        Ok(Self { stop, clients: handles })
    }

    pub async fn stop(self) -> anyhow::Result<LoadReport> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = LoadReport::default();
        for handle in self.clients {
            let report = handle.await??;
            all.requests += report.requests;
            all.lost += report.lost;
            all.throttled += report.throttled;
            for (kind, n) in report.errors {
                *all.errors.entry(kind).or_default() += n;
            }
        }
        Ok(all)
    }
}

async fn client(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    key: &str,
    stop: &AtomicBool,
) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let url = format!("{base}/storage/{id}/load/item-{}", n % 50);
        let item = json!({"n": n, "pad": "x".repeat(180)});
        report.requests += 1;
        let stored = match http.put(&url).header("X-Side-Key", key).json(&item).send().await {
            Ok(answer) if answer.status().is_success() => true,
            Ok(answer) if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                report.requests -= 1;
                report.throttled += 1;
                let wait = answer.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
                let until = std::time::Instant::now() + std::time::Duration::from_secs(wait);
                while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                false
            }
            Ok(answer) => {
                *report.errors.entry(answer.status().as_u16().to_string()).or_default() += 1;
                false
            }
            Err(_) => {
                *report.errors.entry("connection".to_owned()).or_default() += 1;
                false
            }
        };
        if !stored {
            continue;
        }
        report.requests += 1;
        match http.get(&url).header("X-Side-Key", key).send().await {
            Ok(answer) if answer.status().is_success() => {
                let read: serde_json::Value = answer.json().await?;
                report.lost += u64::from(read["item"] != item);
            }
            Ok(answer) => *report.errors.entry(answer.status().as_u16().to_string()).or_default() += 1,
            Err(_) => *report.errors.entry("connection".to_owned()).or_default() += 1,
        }
    }
    Ok(report)
}
