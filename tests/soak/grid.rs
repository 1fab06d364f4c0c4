//! The grid as deployed, in process: several instances of the functions, each with its
//! own SDK clients (over the fault plan) as separate Lambda instances have, serving the
//! HTTP functions' router on a socket and running the job functions' handlers
//! (`grid_app::lambda::{poller, settlement, batch_monitor}`) on Lambda events, with a
//! simulated clock. [`Grid::deliver`] plays SQS's event source mapping for `poll-work`:
//! batches to the pollers at once, shuffled, some handed to two instances together (a
//! message delivered again while the first worker still runs), a few left undeleted
//! after success (delivered again later), failures left for the queue to bring back.
//!
//! The reference run is the same grid in one instance over SQLite with no faults.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use grid_app::jobs::{BatchMonitor, Poller, Settler};
use grid_app::{Api, GridConfig, Stores};
use grid_core::EpochMs;
use grid_store::contract::moto::Moto;
use grid_store::faults::{ChaosPlan, Dice};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

/// One instance of every function: its clients, its router's address, its jobs.
struct Instance {
    base: String,
    poller: Poller,
    settler: Settler,
    monitor: BatchMonitor,
}

/// What the event source did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Deliveries {
    /// Batches handed to a poller instance (a batch given to two counts twice).
    pub batches: u64,
    pub messages: u64,
    /// Batches handed to two instances at once.
    pub doubled: u64,
    /// Messages polled but left undeleted, so that the queue delivers them again.
    pub undeleted: u64,
    /// Messages the handler reported failed (the queue delivers them again).
    pub failed: u64,
    /// Job invocations that failed (the schedule runs them again).
    pub job_errors: u64,
}

pub struct Grid {
    instances: Vec<Instance>,
    /// Stores without faults: the queue as the event source mapping sees it (that part
    /// is AWS's), and the books to check.
    pub stores: Stores,
    pub deliveries: Deliveries,
    /// The event source's choices, seeded.
    dice: Dice,
    /// Messages left on the queue (failed or undeleted) when it was last seen empty.
    left_behind: u64,
    _moto: Option<Moto>,
    _data: tempfile::TempDir,
}

/// The grid's configuration for the soak: 15-minute periods, settlement two slots after a
/// period ends, the community's time-of-use tariff and feed-in, a fee, and the ledger.
fn config(extra: &HashMap<String, String>, ledger: &str, ledger_key: &str) -> GridConfig {
    let mut vars: HashMap<String, String> = [
        ("SETTLEMENT_PERIOD_SECS", (super::world::PERIOD_MS / 1000).to_string()),
        ("SETTLEMENT_GRACE_SECS", (2 * super::world::SLOT_MS / 1000).to_string()),
        ("PRICE_CAP", "00:00=180,07:00=260,21:00=180".to_owned()),
        ("FEED_IN_PRICE", "60".to_owned()),
        ("GRID_FEE_BPS", "500".to_owned()),
        ("GRID_WALLET", "grid".to_owned()),
        ("MONITOR_BUDGET_SECS", "0".to_owned()),
        ("LEDGER_URL", ledger.to_owned()),
        ("LEDGER_KEY", ledger_key.to_owned()),
        ("GRID_LISTEN", "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(extra.clone());
    GridConfig::from_vars(&vars).expect("the soak's configuration is valid")
}

impl Grid {
    /// `instances` instances over fresh resources on moto, every client meeting `chaos`.
    pub async fn serverless(instances: usize, chaos: &ChaosPlan, ledger: &str, ledger_key: &str) -> Self {
        let moto = Moto::start();
        let (calm, names) = moto.fresh_resources().await;
        let mut env: HashMap<String, String> = names.to_vars().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        env.insert("GRID_STORE".into(), "aws".into());
        let config = config(&env, ledger, ledger_key);
        let shards = config.market.reading_shards;
        let mut all = Vec::new();
        for _ in 0..instances {
            let clients = grid_store::aws::AwsClients::with_chaos(&moto.sdk_config(), chaos);
            all.push(Instance::start(Stores::on_aws(&clients, &names, shards), &config).await);
        }
        let stores = Stores::on_aws(&calm, &names, shards);
        let data = tempfile::tempdir().unwrap();
        Self::assemble(all, stores, Some(moto), data)
    }

    /// One instance over SQLite, without faults: what the books must come to.
    pub async fn reference(ledger: &str, ledger_key: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let env = HashMap::from([("GRID_DATA_DIR".to_owned(), data.path().display().to_string())]);
        let config = config(&env, ledger, ledger_key);
        let stores = grid_app::open_stores(&config).await.expect("the store opens");
        let instance = Instance::start(stores.clone(), &config).await;
        Self::assemble(vec![instance], stores, None, data)
    }

    fn assemble(instances: Vec<Instance>, stores: Stores, moto: Option<Moto>, data: tempfile::TempDir) -> Self {
        Self {
            instances,
            stores,
            deliveries: Deliveries::default(),
            dice: Dice::new(0x50A4),
            left_behind: 0,
            _moto: moto,
            _data: data,
        }
    }

    /// The HTTP functions' addresses, one per instance: devices are spread over them.
    pub fn bases(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.base.clone()).collect()
    }

    /// The poller's schedule at `at` (its sweep of channels with unread messages), on
    /// one instance.
    pub async fn sweep(&mut self, at: EpochMs) {
        let event = json!({"job": "poller", "scheduledTime": null});
        let i = self.dice.roll(self.instances.len() as u64) as usize;
        let outcome = grid_app::lambda::poller(&self.instances[i].poller, lambda_event(event), at).await;
        self.count(outcome);
    }

    /// Plays the event source mapping until `poll-work` is empty: every batch to a
    /// poller instance, all instances at once.
    pub async fn deliver(&mut self, at: EpochMs) {
        loop {
            let mut batches = Vec::new();
            for _ in 0..self.instances.len() {
                let batch = self.stores.poll_work.receive(10, Duration::from_secs(1)).await.expect("the queue answers");
                if !batch.is_empty() {
                    batches.push(batch);
                }
            }
            if batches.is_empty() {
                let left_behind = self.deliveries.failed + self.deliveries.undeleted;
                if left_behind == self.left_behind {
                    return;
                }
                // Messages not deleted come back once their visibility ends.
                self.left_behind = left_behind;
                tokio::time::sleep(Duration::from_millis(1_100)).await;
                continue;
            }
            let mut runs = Vec::new();
            for (n, mut batch) in batches.into_iter().enumerate() {
                // Out of order: SQS standard queues promise none.
                batch.reverse();
                let doubled = self.dice.roll(100) < 20;
                let undelete = self.dice.roll(100) < 5;
                let instances: Vec<usize> = if doubled {
                    vec![n % self.instances.len(), (n + 1) % self.instances.len()]
                } else {
                    vec![n % self.instances.len()]
                };
                self.deliveries.doubled += u64::from(doubled);
                runs.push((batch, instances, undelete));
            }
            let invocations = runs.iter().flat_map(|(batch, instances, _)| {
                let records: Vec<Value> = batch
                    .iter()
                    .map(|m| json!({"messageId": m.id, "receiptHandle": m.receipt, "body": m.body, "eventSource": "aws:sqs"}))
                    .collect();
                instances.iter().map(move |&i| (i, json!({"Records": records.clone()})))
            });
            let outcomes = join_all(invocations.map(|(i, event)| {
                let poller = &self.instances[i].poller;
                async move { grid_app::lambda::poller(poller, lambda_event(event), at).await }
            }))
            .await;
            let mut failed: Vec<String> = Vec::new();
            for outcome in outcomes {
                match outcome {
                    Ok(answer) => failed.extend(
                        answer["batchItemFailures"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned)),
                    ),
                    Err(e) => {
                        eprintln!("a poller invocation failed: {e}");
                        self.deliveries.job_errors += 1;
                    }
                }
            }
            for (batch, instances, undelete) in runs {
                self.deliveries.batches += instances.len() as u64;
                self.deliveries.messages += batch.len() as u64;
                let done: Vec<&str> =
                    batch.iter().filter(|m| !failed.contains(&m.id)).map(|m| m.receipt.as_str()).collect();
                self.deliveries.failed += (batch.len() - done.len()) as u64;
                if undelete {
                    self.deliveries.undeleted += done.len() as u64;
                } else {
                    self.stores.poll_work.ack_many(&done).await.expect("the queue answers");
                }
            }
        }
    }

    /// Settlement's schedule at `at`, fired on two instances at once (schedules overlap).
    pub async fn settle(&mut self, at: EpochMs) {
        let event = || lambda_event(json!({"job": "settlement", "scheduledTime": null}));
        let (a, b) = self.pair();
        let outcomes =
            join_all([a, b].map(|i| grid_app::lambda::settlement(&self.instances[i].settler, event(), at))).await;
        outcomes.into_iter().for_each(|o| self.count(o));
    }

    /// The batch monitor's schedule at `at`, fired on two instances at once.
    pub async fn monitor(&mut self, at: EpochMs) {
        let event = || lambda_event(json!({"job": "batch-monitor", "scheduledTime": null}));
        let (a, b) = self.pair();
        let outcomes =
            join_all([a, b].map(|i| grid_app::lambda::batch_monitor(&self.instances[i].monitor, event(), at))).await;
        outcomes.into_iter().for_each(|o| self.count(o));
    }

    fn pair(&mut self) -> (usize, usize) {
        let n = self.instances.len();
        let a = self.dice.roll(n as u64) as usize;
        (a, (a + 1) % n)
    }

    fn count(&mut self, outcome: Result<Value, grid_app::lambda::JobError>) {
        if let Err(e) = outcome {
            eprintln!("a job invocation failed (its schedule runs it again): {}", grid_app::telemetry::cause_chain(&e));
            self.deliveries.job_errors += 1;
        }
    }
}

impl Instance {
    async fn start(stores: Stores, config: &GridConfig) -> Self {
        let apis = [Api::Registration, Api::Storage, Api::Channels, Api::Portal];
        let router = grid_app::api_router(&apis, grid_app::app_state(&stores, config), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(grid_app::server::serve(listener, router, config.server, std::future::pending()));
        let ledger = grid_app::assembly::ledger(config.ledger.as_ref().expect("the soak has a ledger"));
        Self {
            base,
            poller: Poller::new(&stores, config),
            settler: Settler::new(&stores, config),
            monitor: BatchMonitor::new(&stores, config, ledger),
        }
    }
}

fn lambda_event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}
