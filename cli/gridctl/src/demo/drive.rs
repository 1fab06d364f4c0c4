//! Driving the simulated clock: one slot per step, every party acting and then every
//! job of the grid running at the simulated time, until every period is settled and
//! every bill and payout is final. Apart from the flow because it is the demo's one
//! loop, and the only code that moves time.

use std::time::Duration;

use anyhow::bail;
use grid_app::Stores;
use grid_app::jobs::Jobs;
use grid_core::EpochMs;

use super::print::clock;
use super::world::{ConsumerAgent, ProducerAgent};
use super::{SLOTS_PER_PERIOD, period_start};

/// Steps the simulated clock until every period is settled and everything is paid.
#[allow(clippy::too_many_arguments)]
pub(super) async fn drive(
    jobs: &Jobs,
    stores: &Stores,
    producers: &mut [ProducerAgent],
    consumers: &mut [ConsumerAgent],
    start: u64,
    end: u64,
    slot_ms: u64,
    period_ms: u64,
    pace_ms: u64,
) -> anyhow::Result<u64> {
    let periods = (end - start) / period_ms;
    let bar = indicatif::ProgressBar::new(periods);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} periods settled · {msg}")
            .expect("a valid template"),
    );
    let last_period = end - period_ms;
    let mut now = start;
    let mut steps = 0;
    // Generous: the periods, the grace, and rounds for payments to turn final (many
    // more when the ledger fails and the monitor backs off).
    let max_steps = (periods + 30) * SLOTS_PER_PERIOD;
    loop {
        now += slot_ms;
        steps += 1;
        for producer in producers.iter_mut() {
            for source in &mut producer.sources {
                source.step(now).await?;
            }
            let step = producer.agent.step(now).await?;
            producer.offered_wh += step.offered.iter().map(|(_, wh)| wh.get()).sum::<u64>();
            producer.offered += step.offered.len() as u64;
        }
        for consumer in consumers.iter_mut() {
            let step = consumer.agent.step(now).await?;
            consumer.used_wh += step.reported.iter().map(|r| r.energy.get()).sum::<u64>();
            consumer.reported += step.reported.len() as u64;
            consumer.requests += step.bills.len() as u64;
        }
        jobs.poller.dispatch().await?;
        // Every job on the simulated clock, as they would all be on the real one.
        let at = EpochMs::parse(now as i64)?;
        jobs.poller.drain(at).await?;
        jobs.settler.run(at).await?;
        let paid = jobs.monitor.run(at).await?;

        let settled = (start..end).step_by(period_ms as usize).count() as u64
            - count_unsettled(stores, start, end, period_ms).await?;
        let totals = stores.accounts.totals().await?;
        bar.set_position(settled);
        bar.set_message(format!(
            "{} · consumers paid {} IOTA · producers paid {} IOTA",
            clock(now),
            totals.paid_in.get(),
            totals.payouts.get()
        ));
        let done = stores.settlements.get(period_start(last_period)?).await?.is_some()
            && paid.payouts_submitted == 0
            && stores.accounts.due_batches(grid_core::EpochMs::LATEST, 1).await?.is_empty()
            && stores.accounts.unpaid().await?.is_empty()
            && all_paid(stores, consumers).await?;
        if done {
            bar.finish_and_clear();
            return Ok(steps);
        }
        if steps >= max_steps {
            bar.abandon();
            bail!(
                "the demo did not finish in {steps} steps (last period settled: {}, payouts submitted in the last \
                 run: {}, batches still due: {}, producers still owed: {}, all bills paid: {})",
                stores.settlements.get(period_start(last_period)?).await?.is_some(),
                paid.payouts_submitted,
                stores.accounts.due_batches(grid_core::EpochMs::LATEST, 1_000).await?.len(),
                stores.accounts.unpaid().await?.len(),
                all_paid(stores, consumers).await?,
            );
        }
        tokio::time::sleep(Duration::from_millis(pace_ms)).await;
    }
}

pub(super) async fn count_unsettled(stores: &Stores, start: u64, end: u64, period_ms: u64) -> anyhow::Result<u64> {
    let mut unsettled = 0;
    for period in (start..end).step_by(period_ms as usize) {
        if stores.settlements.get(period_start(period)?).await?.is_none() {
            unsettled += 1;
        }
    }
    Ok(unsettled)
}

async fn all_paid(stores: &Stores, consumers: &[ConsumerAgent]) -> anyhow::Result<bool> {
    for consumer in consumers {
        let account = stores.accounts.get(&consumer.agent.settings().id).await?.unwrap_or_default();
        if account.billed != account.paid {
            return Ok(false);
        }
    }
    Ok(true)
}
