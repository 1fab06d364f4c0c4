//! The soak's parts of the demo (`make soak`): starting `demo_load`'s storage clients
//! while the demo trades, and the report, after the books, of what was served,
//! ingested, settled and paid, and of what was lost. Apart because only a run under
//! `--ledger-faults` or `--storage-clients` needs them.

use grid_app::Stores;

use super::drive::count_unsettled;
use super::period_start;
use super::world::{ConsumerAgent, ProducerAgent};
use crate::device_addresses::DeviceAddresses;

pub(super) async fn demo_load_start(
    base: &str,
    clients: usize,
    addresses: &mut DeviceAddresses,
) -> anyhow::Result<Option<crate::demo_load::Load>> {
    Ok(if clients == 0 { None } else { Some(crate::demo_load::Load::start(base, clients, addresses).await?) })
}

/// What a soak prints after the books: the load served, what was ingested, settled and
/// paid, and what was lost (must be nothing). True when nothing was lost.
pub(super) async fn soak_report(
    stores: &Stores,
    producers: &[ProducerAgent],
    consumers: &[ConsumerAgent],
    load: Option<&crate::demo_load::LoadReport>,
    start: u64,
    end: u64,
    period_ms: u64,
) -> anyhow::Result<bool> {
    let published: u64 =
        producers.iter().map(|p| p.offered).sum::<u64>() + consumers.iter().map(|c| c.reported).sum::<u64>();
    let mut ingested = 0u64;
    // Late readings count in a later period; look a few past the end.
    for period in (start..end + 8 * period_ms).step_by(period_ms as usize) {
        let mut after = None;
        loop {
            let page = stores.readings.counted_in(period_start(period)?, after.as_ref(), 1_000).await?;
            ingested += page.readings.len() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let settled = (start..end).step_by(period_ms as usize).count() as u64
        - count_unsettled(stores, start, end, period_ms).await?;
    let committed = stores.accounts.batches(Some(grid_core::books::BatchState::Committed), 100_000).await?.len();
    let lost_readings = published.saturating_sub(ingested) + ingested.saturating_sub(published);
    say!("\nSoak");
    if let Some(load) = load {
        let errors = if load.errors.is_empty() {
            "none".to_owned()
        } else {
            load.errors.iter().map(|(kind, n)| format!("{kind}: {n}")).collect::<Vec<_>>().join(", ")
        };
        say!("  storage requests served       {:>10}   errors by kind: {errors}", load.requests);
        say!("  writes throttled (429, waited) {:>9}", load.throttled);
    }
    say!("  readings ingested             {ingested:>10}   of {published} published");
    say!("  periods settled               {settled:>10}");
    say!("  ledger batches committed      {committed:>10}   (payments and payouts)");
    let lost_items = load.map_or(0, |l| l.lost);
    say!(
        "  lost                          {:>10}   ({lost_readings} readings, {lost_items} storage items)",
        lost_readings + lost_items
    );
    Ok(lost_readings + lost_items == 0)
}
