//! `gridctl batches`: the ledger batches the grid follows, as the operator needs to see
//! them — pending, stalled and failed ones with their checks and the ledger's reasons.

use std::path::PathBuf;

use anyhow::Context;
use grid_core::books::BatchState;

use crate::serve::ServeArgs;

#[derive(clap::Args, Debug)]
pub struct BatchesArgs {
    /// Directory of the SQLite database [env: GRID_DATA_DIR, default ./grid-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Only batches with this status: pending, stalled, committed, invalid, verified, rejected.
    #[arg(long)]
    status: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

pub async fn run(args: BatchesArgs) -> anyhow::Result<()> {
    // `pending` includes stalled batches.
    let status = args.status.as_deref().map(BatchState::parse).transpose().context("--status")?;
    let config = ServeArgs { data_dir: args.data_dir, ..ServeArgs::default() }.config()?;
    let stores = grid_app::open_stores(&config)
        .await
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    let batches = stores.accounts.batches(status, args.limit).await?;
    println!("id\tkind\tregistration\tamount\tstatus\tchecks\tsubmitted ms\tlast checked ms\treasons");
    for b in batches {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            b.id,
            b.kind.as_str(),
            b.registration,
            b.amount.get(),
            b.status,
            b.times_checked,
            b.submitted.get(),
            b.last_checked.map_or("-".to_owned(), |at| at.get().to_string()),
            b.reasons.join("; ")
        );
    }
    Ok(())
}
