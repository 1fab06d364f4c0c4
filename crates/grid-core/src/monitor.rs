//! Planning the batch monitor's rounds (DESIGN.md §6, after the DLT polling monitor):
//! which pending batches to ask the ledger about, in which requests, and what its
//! answers mean. Pure; the job in `grid-app` does the I/O.

use std::collections::{BTreeMap, HashSet};

use crate::ledger::BatchStatus;
use crate::{BatchId, EpochMs};

/// A batch the grid is waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBatch {
    /// The ledger service it was submitted to (one per ledger, or per Splinter service).
    pub service: String,
    pub id: BatchId,
    /// When it was submitted (or claimed): breaks ties in checking order.
    pub submitted: EpochMs,
    /// When the monitor last asked about it, if ever (never comes first).
    pub last_checked: Option<EpochMs>,
}

/// One `/batch_statuses` request: some ids of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    pub service: String,
    pub ids: Vec<BatchId>,
}

/// Orders pending batches least recently checked first (then oldest submission, then
/// id), groups them by service in that order, and cuts each group into requests of at
/// most `ids_per_request` ids. A batch listed twice is asked about once.
pub fn plan_requests(pending: &[PendingBatch], ids_per_request: usize) -> Vec<StatusRequest> {
    let mut ordered: Vec<&PendingBatch> = pending.iter().collect();
    ordered.sort_by(|a, b| (a.last_checked, a.submitted, &a.id).cmp(&(b.last_checked, b.submitted, &b.id)));
    let mut seen = HashSet::new();
    let mut services: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<&str, Vec<BatchId>> = BTreeMap::new();
    for batch in ordered {
        if !seen.insert((&batch.service, &batch.id)) {
            continue;
        }
        if !groups.contains_key(batch.service.as_str()) {
            services.push(&batch.service);
        }
        groups.entry(&batch.service).or_default().push(batch.id.clone());
    }
    let size = ids_per_request.max(1);
    services
        .into_iter()
        .flat_map(|service| {
            let ids = groups.remove(service).unwrap_or_default();
            ids.chunks(size)
                .map(|chunk| StatusRequest { service: service.to_owned(), ids: chunk.to_vec() })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What an answer means for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Final: the ledger applied it.
    Committed,
    /// Final: the ledger refused it, for these reasons.
    Invalid(Vec<String>),
    /// Not final (`PENDING`, `UNKNOWN`, Splinter's `Valid`/`Delayed`): ask again later.
    NotFinal(BatchStatus),
}

impl From<BatchStatus> for Outcome {
    fn from(status: BatchStatus) -> Self {
        match status {
            BatchStatus::Committed => Self::Committed,
            BatchStatus::Invalid(reasons) => Self::Invalid(reasons),
            other => Self::NotFinal(other),
        }
    }
}

/// An answer checked against the question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedAnswer {
    /// One outcome per asked id the answer covers, in the order asked.
    pub outcomes: Vec<(BatchId, Outcome)>,
    /// Asked ids the answer left out: they stay pending.
    pub missing: Vec<BatchId>,
    /// Ids the answer has that were not asked: dropped.
    pub extras: Vec<String>,
    /// Asked ids answered more than once with different statuses: left pending (which
    /// answer to believe is unclear), unless one of them is final and the rest agree.
    pub conflicting: Vec<BatchId>,
}

/// Checks an answer against the ids asked: extras are dropped, missing ids reported,
/// and an id answered twice counts once if the answers agree.
pub fn check_answer(asked: &[BatchId], answer: Vec<(String, BatchStatus)>) -> CheckedAnswer {
    let mut by_id: BTreeMap<String, Vec<BatchStatus>> = BTreeMap::new();
    let asked_set: HashSet<&str> = asked.iter().map(BatchId::as_str).collect();
    let mut checked = CheckedAnswer::default();
    for (id, status) in answer {
        if asked_set.contains(id.as_str()) {
            by_id.entry(id).or_default().push(status);
        } else {
            checked.extras.push(id);
        }
    }
    for id in asked {
        match by_id.remove(id.as_str()) {
            None => checked.missing.push(id.clone()),
            Some(mut statuses) => {
                statuses.dedup();
                if statuses.len() == 1 {
                    checked.outcomes.push((id.clone(), statuses.remove(0).into()));
                } else {
                    checked.conflicting.push(id.clone());
                }
            }
        }
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> BatchId {
        BatchId::parse(s).unwrap()
    }

    fn pending(service: &str, name: &str, submitted: u64, last_checked: u64) -> PendingBatch {
        let at = |ms: u64| EpochMs::try_from(ms).unwrap();
        let last_checked = (last_checked > 0).then(|| at(last_checked));
        PendingBatch { service: service.into(), id: id(name), submitted: at(submitted), last_checked }
    }

    #[test]
    fn batches_are_asked_least_recently_checked_first_then_oldest() {
        let plan = plan_requests(
            &[pending("s", "c", 3, 500), pending("s", "a", 9, 0), pending("s", "b", 1, 0), pending("s", "d", 2, 100)],
            10,
        );
        assert_eq!(plan, vec![StatusRequest { service: "s".into(), ids: vec![id("b"), id("a"), id("d"), id("c")] }]);
    }

    #[test]
    fn services_are_asked_separately_in_chunks() {
        let batches: Vec<PendingBatch> =
            (0..7).map(|i| pending(if i % 2 == 0 { "left" } else { "right" }, &format!("b{i}"), i, 0)).collect();
        let plan = plan_requests(&batches, 3);
        let shape: Vec<(String, Vec<String>)> =
            plan.iter().map(|r| (r.service.clone(), r.ids.iter().map(|i| i.to_string()).collect())).collect();
        assert_eq!(
            shape,
            vec![
                ("left".into(), vec!["b0".into(), "b2".into(), "b4".into()]),
                ("left".into(), vec!["b6".into()]),
                ("right".into(), vec!["b1".into(), "b3".into(), "b5".into()]),
            ]
        );
    }

    #[test]
    fn a_batch_listed_twice_is_asked_once_and_nothing_is_asked_for_nothing() {
        let plan = plan_requests(&[pending("s", "a", 1, 0), pending("s", "a", 1, 0)], 15);
        assert_eq!(plan[0].ids, vec![id("a")]);
        assert!(plan_requests(&[], 15).is_empty());
        assert_eq!(plan_requests(&[pending("s", "a", 1, 0)], 0)[0].ids.len(), 1, "a zero chunk size still asks");
    }

    #[test]
    fn an_answer_is_checked_against_the_question() {
        let asked = [id("a"), id("b"), id("c"), id("d")];
        let answer = vec![
            ("d".to_owned(), BatchStatus::Pending),
            ("a".to_owned(), BatchStatus::Committed),
            ("zzz".to_owned(), BatchStatus::Committed),
            ("b".to_owned(), BatchStatus::Invalid(vec!["no funds".into()])),
            ("b".to_owned(), BatchStatus::Invalid(vec!["no funds".into()])),
        ];
        let checked = check_answer(&asked, answer);
        assert_eq!(
            checked.outcomes,
            vec![
                (id("a"), Outcome::Committed),
                (id("b"), Outcome::Invalid(vec!["no funds".into()])),
                (id("d"), Outcome::NotFinal(BatchStatus::Pending)),
            ]
        );
        assert_eq!(checked.missing, vec![id("c")]);
        assert_eq!(checked.extras, vec!["zzz".to_owned()]);
        assert!(checked.conflicting.is_empty());
    }

    #[test]
    fn contradictory_answers_for_one_id_leave_it_pending() {
        let checked = check_answer(
            &[id("a")],
            vec![("a".to_owned(), BatchStatus::Committed), ("a".to_owned(), BatchStatus::Unknown)],
        );
        assert_eq!(checked.conflicting, vec![id("a")]);
        assert!(checked.outcomes.is_empty());
    }

    #[test]
    fn an_empty_answer_leaves_everything_pending_and_unknown_is_never_final() {
        let checked = check_answer(&[id("a"), id("b")], vec![]);
        assert_eq!(checked.missing, vec![id("a"), id("b")]);
        assert_eq!(Outcome::from(BatchStatus::Unknown), Outcome::NotFinal(BatchStatus::Unknown));
        assert_eq!(Outcome::from(BatchStatus::Pending), Outcome::NotFinal(BatchStatus::Pending));
    }
}
