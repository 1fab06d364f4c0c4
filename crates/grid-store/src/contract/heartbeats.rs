//! The [`HeartbeatLog`](crate::HeartbeatLog) contract: the latest run of each job, every
//! report read back as written.

use grid_core::{EpochMs, Iota, Price, Wh};

use super::market::*;
use super::ms;

pub async fn a_heartbeat_keeps_the_latest_run_of_each_job(stores: MarketStores) {
    use crate::{Heartbeat, Job, JobReport, PollReport, SettledPeriod, SettledPeriods};
    let polled = |at: u64, stored: u64| Heartbeat {
        at: ms(at),
        report: JobReport::Poller(PollReport { registrations: 1, stored, ..PollReport::default() }),
    };
    let settled = Heartbeat {
        at: ms(1_100),
        report: JobReport::Settlement(SettledPeriods { settled: vec![SettledPeriod::from(&record(PERIOD))] }),
    };
    assert_eq!(stores.heartbeats.last(Job::Poller).await.unwrap(), None);
    stores.heartbeats.beat(&polled(1_000, 3)).await.unwrap();
    stores.heartbeats.beat(&settled).await.unwrap();
    stores.heartbeats.beat(&polled(2_000, 0)).await.unwrap();
    assert_eq!(stores.heartbeats.last(Job::Poller).await.unwrap(), Some(polled(2_000, 0)));
    assert_eq!(stores.heartbeats.last(Job::Settlement).await.unwrap(), Some(settled));
    assert_eq!(stores.heartbeats.last(Job::BatchMonitor).await.unwrap(), None);
    // Heartbeats live beside the leases on DynamoDB: they must not disturb them.
    assert!(stores.leases.acquire("poller", "run-a", ms(3_000), ms(3_000 + 500)).await.unwrap());
    assert!(stores.heartbeats.last(Job::Poller).await.unwrap().is_some());
}

pub async fn every_jobs_report_reads_back_as_it_was_written(stores: MarketStores) {
    use crate::{
        DispatchReport, Heartbeat, Job, JobReport, LateReport, MonitorReport, PollReport, SettledPeriod,
        SettledPeriods, SweepReport,
    };
    // Every field set (none left at its default), the largest values where a store
    // could round them.
    let reports = [
        JobReport::PollerSweep(SweepReport {
            unread: 1,
            registrations: 2,
            messages: 3,
            marked_read: 4,
            stalled: 5,
            lag_seconds: u64::MAX,
            expired: 6,
            dead_letters: 7,
            completions_dead_letters: 8,
        }),
        JobReport::PollerDispatch(DispatchReport { registrations: 1_000_000, waiting: 2, messages: 3 }),
        JobReport::Poller(PollReport {
            registrations: 1,
            messages: 2,
            stored: 3,
            duplicates: 4,
            late: 5,
            rejected: 6,
            payments: 7,
            closed: 8,
        }),
        JobReport::Settlement(SettledPeriods {
            settled: vec![
                SettledPeriod::from(&record(PERIOD)),
                SettledPeriod {
                    period: at(EpochMs::MAX - EpochMs::MAX % LENGTH),
                    price: price(Price::MAX),
                    matched: Wh::new(u64::MAX),
                    imported: Wh::new(1),
                    exported: Wh::new(2),
                    revenue: Iota::new(Iota::SUPPLY),
                    fee: Iota::new(3),
                },
            ],
        }),
        JobReport::BatchMonitor(MonitorReport {
            skipped: true,
            rounds: 1,
            asked: 2,
            requests_failed: 3,
            not_final: 4,
            resent: 5,
            stalled: 6,
            verified: 7,
            rejected: 8,
            payouts_submitted: 9,
            payouts_committed: 10,
            payouts_refused: 11,
            pending: 12,
            payouts_pending: 13,
        }),
        JobReport::LateReadings(LateReport { late: 2 }),
    ];
    for (i, report) in reports.into_iter().enumerate() {
        let beat = Heartbeat { at: ms(EpochMs::MAX - i as u64), report };
        stores.heartbeats.beat(&beat).await.unwrap();
        assert_eq!(stores.heartbeats.last(beat.job()).await.unwrap().as_ref(), Some(&beat), "{}", beat.job());
    }
    for job in Job::RUNS.into_iter().chain([Job::LateReadings]) {
        assert_eq!(
            stores.heartbeats.last(job).await.unwrap().map(|beat| beat.job()),
            Some(job),
            "each under its own key"
        );
    }
}
