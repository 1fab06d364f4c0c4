//! `gridctl ledger`: the development ledger on its own socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use dev_ledger::{GridAccounts, LedgerOptions, LedgerStore};
use grid_app::config::LogFormat;
use grid_app::telemetry;
use grid_core::{AccountKey, PaymentAddress};
use tokio::net::TcpListener;

#[derive(clap::Args, Debug)]
pub struct LedgerArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Directory of the ledger's database.
    #[arg(long, default_value = "./ledger-data")]
    data_dir: PathBuf,
    /// How long a batch stays PENDING before it turns final (milliseconds).
    #[arg(long, default_value_t = 2000)]
    final_after_ms: u64,
    /// Chance (0–1) that a status is reported UNKNOWN for a known batch.
    #[arg(long, default_value_t = 0.0)]
    unknown_rate: f64,
    /// Chance (0–1) that a request is answered 503.
    #[arg(long, default_value_t = 0.0)]
    unavailable_rate: f64,
    /// Chance (0–1) that a batch that would commit turns INVALID.
    #[arg(long, default_value_t = 0.0)]
    invalid_rate: f64,
    /// The grid's wallet: it and every `{wallet}-…` address are the grid's.
    #[arg(long, env = "GRID_WALLET", default_value = "grid-wallet")]
    grid_wallet: String,
    /// The key that spends from the grid's accounts: the grid's own LEDGER_KEY.
    #[arg(long, env = "LEDGER_KEY", hide_env_values = true)]
    grid_key: String,
}

pub async fn run(args: LedgerArgs) -> anyhow::Result<()> {
    telemetry::init(LogFormat::Pretty, "info");
    for (name, rate) in
        [("unknown", args.unknown_rate), ("unavailable", args.unavailable_rate), ("invalid", args.invalid_rate)]
    {
        anyhow::ensure!((0.0..=1.0).contains(&rate), "--{name}-rate must be between 0 and 1, got {rate}");
    }
    let store =
        LedgerStore::open(&args.data_dir).with_context(|| format!("cannot open {}", args.data_dir.display()))?;
    let grid = GridAccounts {
        wallet: PaymentAddress::parse(&args.grid_wallet).context("--grid-wallet")?,
        key: AccountKey::parse(args.grid_key).context("LEDGER_KEY")?,
    };
    let options = LedgerOptions {
        grid: Some(grid),
        final_after: Duration::from_millis(args.final_after_ms),
        unknown_rate: args.unknown_rate,
        unavailable_rate: args.unavailable_rate,
        invalid_rate: args.invalid_rate,
    };
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("development ledger listening on http://{}", listener.local_addr()?);
    axum::serve(listener, dev_ledger::router(store, options))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the ledger failed")
}
