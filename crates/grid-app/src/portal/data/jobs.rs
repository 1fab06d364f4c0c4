//! The jobs' last runs, from their heartbeats: what each reported (the overview's jobs
//! table) and when it ran (the health strip).

use grid_store::{Heartbeat, Job, JobReport, StoreError};
use serde::Serialize;

use super::PortalData;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRow {
    pub job: String,
    /// When it last ran (epoch ms), if it ever did.
    pub at: Option<u64>,
    /// The run's report, as the job wrote it.
    #[schema(value_type = Object)]
    pub report: Option<JobReport>,
}

impl PortalData {
    pub async fn heartbeats(&self) -> Result<Vec<HeartbeatRow>, StoreError> {
        let runs = self.last_runs().await?;
        Ok(runs
            .into_iter()
            .map(|(job, beat)| HeartbeatRow {
                job: job.to_string(),
                at: beat.as_ref().map(|beat| beat.at.get()),
                report: beat.map(|beat| beat.report),
            })
            .collect())
    }

    /// `job`'s last heartbeat; one the store cannot read is shown as none (and logged):
    /// a heartbeat only informs, and the page must still show the rest.
    pub(super) async fn last_run(&self, job: Job) -> Result<Option<Heartbeat>, StoreError> {
        match self.stores.heartbeats.last(job).await {
            Err(StoreError::Corrupt(reason)) => {
                tracing::warn!(job = job.as_str(), %reason, "an unreadable heartbeat is shown as none");
                Ok(None)
            }
            other => other,
        }
    }

    /// Each job's last run, in [`Job::RUNS`]'s order.
    pub(super) async fn last_runs(&self) -> Result<Vec<(Job, Option<Heartbeat>)>, StoreError> {
        let mut runs = Vec::new();
        for job in Job::RUNS {
            runs.push((job, self.last_run(job).await?));
        }
        Ok(runs)
    }
}
