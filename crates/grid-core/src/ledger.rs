//! What the grid says to and hears from the ledger: transfers in batches, and the
//! statuses of batches in both dialects the ledger may speak.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::{BatchId, Iota, PaymentAddress, RegistrationId};

/// One movement of IOTA between two ledger accounts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub from: PaymentAddress,
    pub to: PaymentAddress,
    pub amount: Iota,
}

/// Transfers the ledger applies together or not at all, under an id it applies once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerBatch {
    pub id: BatchId,
    pub transfers: Vec<Transfer>,
}

impl LedgerBatch {
    /// The batch that pays a producer its `destinations` (each an address and what it
    /// gets), drawing on the grid's `sources` (each an address and the part it pays;
    /// both sum to the same). Sources are spent in order across destinations in order,
    /// so each destination gets one transfer per source it draws on. The id is derived
    /// from everything that makes the payout what it is (producer, its payouts so far,
    /// how often the ledger refused one, sources, destinations), so planning the same
    /// payout again yields the same batch, which the ledger applies at most once, while
    /// a re-issue after a refusal gets a new one.
    pub fn payout(
        producer: &RegistrationId,
        paid_before: Iota,
        refused: u64,
        sources: &[(PaymentAddress, Iota)],
        destinations: &[(PaymentAddress, Iota)],
    ) -> Self {
        let mut hash = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        part(b"grid-payout/2");
        part(producer.as_str().as_bytes());
        part(&paid_before.get().to_be_bytes());
        part(&refused.to_be_bytes());
        for (list, tag) in [(sources, b"from"), (destinations, b"to\0\0")] {
            part(tag);
            for (address, amount) in list {
                part(address.as_str().as_bytes());
                part(&amount.get().to_be_bytes());
            }
        }
        let id = format!("payout-{}", &hex::encode(hash.finalize())[..40]);
        let mut transfers = Vec::new();
        let mut sources = sources.iter().map(|(a, n)| (a, n.get())).filter(|(_, n)| *n > 0).peekable();
        for (to, amount) in destinations {
            let mut left = amount.get();
            while left > 0 {
                let Some((from, available)) = sources.peek_mut() else { break };
                let part = (*available).min(left);
                transfers.push(Transfer { from: (*from).clone(), to: to.clone(), amount: Iota::new(part) });
                *available -= part;
                left -= part;
                if *available == 0 {
                    sources.next();
                }
            }
        }
        Self { id: BatchId::parse(id).expect("a payout id is 47 characters of [a-z0-9-]"), transfers }
    }

    /// The total moved.
    pub fn total(&self) -> u128 {
        self.transfers.iter().map(|t| u128::from(t.amount.get())).sum()
    }
}

/// Where a batch stands on the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchStatus {
    /// Applied: final.
    Committed,
    /// Refused: final; with the ledger's reasons.
    Invalid(Vec<String>),
    /// Received, not yet final.
    Pending,
    /// The ledger does not know it (yet): not final.
    Unknown,
}

impl BatchStatus {
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Committed | Self::Invalid(_))
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Committed => f.write_str("COMMITTED"),
            Self::Invalid(reasons) => write!(f, "INVALID ({})", reasons.join("; ")),
            Self::Pending => f.write_str("PENDING"),
            Self::Unknown => f.write_str("UNKNOWN"),
        }
    }
}

/// A ledger answer that is not one of the known shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ledger's batch status answer is not valid: {0}")]
pub struct StatusParseError(String);

/// Which `/batch_statuses` dialect the ledger speaks (`LEDGER_DIALECT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `GET /batch_statuses?id=a,b` → `{"data":[{"id","status","invalid_transactions"}]}`.
    #[default]
    Sawtooth,
    /// `GET /batch_statuses?ids=a,b` → `[{"id","status":{"statusType",…}}]`.
    Splinter,
}

impl Dialect {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sawtooth" => Some(Self::Sawtooth),
            "splinter" => Some(Self::Splinter),
            _ => None,
        }
    }

    /// The query parameter that carries the ids.
    pub fn query_key(self) -> &'static str {
        match self {
            Self::Sawtooth => "id",
            Self::Splinter => "ids",
        }
    }

    /// Parses a `/batch_statuses` answer into `(id, status)` pairs, as given.
    pub fn parse_statuses(self, body: &[u8]) -> Result<Vec<(String, BatchStatus)>, StatusParseError> {
        let error = |e: serde_json::Error| StatusParseError(e.to_string());
        match self {
            Self::Sawtooth => {
                #[derive(serde::Deserialize)]
                struct Answer {
                    data: Vec<Entry>,
                }
                #[derive(serde::Deserialize)]
                struct Entry {
                    id: String,
                    status: String,
                    #[serde(default)]
                    invalid_transactions: Vec<serde_json::Value>,
                }
                let answer: Answer = serde_json::from_slice(body).map_err(error)?;
                answer
                    .data
                    .into_iter()
                    .map(|e| {
                        let status = match e.status.as_str() {
                            "COMMITTED" => BatchStatus::Committed,
                            "INVALID" => BatchStatus::Invalid(reasons(&e.invalid_transactions)),
                            "PENDING" => BatchStatus::Pending,
                            "UNKNOWN" => BatchStatus::Unknown,
                            other => return Err(StatusParseError(format!("unknown status {other:?}"))),
                        };
                        Ok((e.id, status))
                    })
                    .collect()
            }
            Self::Splinter => {
                #[derive(serde::Deserialize)]
                struct Entry {
                    id: String,
                    status: Status,
                }
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Status {
                    status_type: String,
                    #[serde(default)]
                    message: Vec<serde_json::Value>,
                }
                let entries: Vec<Entry> = serde_json::from_slice(body).map_err(error)?;
                entries
                    .into_iter()
                    .map(|e| {
                        let status = match e.status.status_type.as_str() {
                            "Committed" => BatchStatus::Committed,
                            "Invalid" => BatchStatus::Invalid(reasons(&e.status.message)),
                            "Pending" | "Valid" | "Delayed" => BatchStatus::Pending,
                            "Unknown" => BatchStatus::Unknown,
                            other => return Err(StatusParseError(format!("unknown status {other:?}"))),
                        };
                        Ok((e.id, status))
                    })
                    .collect()
            }
        }
    }
}

/// The human-readable part of each invalid-transaction entry.
fn reasons(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match e.get("message").and_then(|m| m.as_str()) {
            Some(message) => message.to_owned(),
            None => e.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> RegistrationId {
        RegistrationId::parse(s).unwrap()
    }

    fn address(s: &str) -> PaymentAddress {
        PaymentAddress::parse(s).unwrap()
    }

    #[test]
    fn the_same_payout_always_gets_the_same_batch_id_and_another_payout_another() {
        let from = |parts: &[(&str, u64)]| parts.iter().map(|(a, n)| (address(a), Iota::new(*n))).collect::<Vec<_>>();
        let payout = |producer: &str, before: u64, refused: u64, sources: &[(&str, u64)], to: &str| {
            let total = sources.iter().map(|(_, n)| n).sum();
            LedgerBatch::payout(&id(producer), Iota::new(before), refused, &from(sources), &from(&[(to, total)]))
        };
        let a = payout("producer-0001", 0, 0, &[("grid-1", 30), ("grid-2", 20)], "w1");
        assert_eq!(a, payout("producer-0001", 0, 0, &[("grid-1", 30), ("grid-2", 20)], "w1"));
        assert_eq!(a.total(), 50);
        assert_eq!(a.transfers.len(), 2);
        for other in [
            payout("producer-0002", 0, 0, &[("grid-1", 30), ("grid-2", 20)], "w1"),
            payout("producer-0001", 50, 0, &[("grid-1", 30), ("grid-2", 20)], "w1"),
            payout("producer-0001", 0, 1, &[("grid-1", 30), ("grid-2", 20)], "w1"),
            payout("producer-0001", 0, 0, &[("grid-1", 50)], "w1"),
            payout("producer-0001", 0, 0, &[("grid-1", 30), ("grid-2", 20)], "w2"),
        ] {
            assert_ne!(other.id, a.id);
        }
    }

    #[test]
    fn a_payout_to_several_addresses_spends_its_sources_in_order_with_a_transfer_per_pair() {
        let list = |parts: &[(&str, u64)]| parts.iter().map(|(a, n)| (address(a), Iota::new(*n))).collect::<Vec<_>>();
        let batch = LedgerBatch::payout(
            &id("producer-0001"),
            Iota::ZERO,
            0,
            &list(&[("grid-1", 30), ("grid-2", 50)]),
            &list(&[("w1", 40), ("w2", 40)]),
        );
        let moved: Vec<(&str, &str, u64)> =
            batch.transfers.iter().map(|t| (t.from.as_str(), t.to.as_str(), t.amount.get())).collect();
        assert_eq!(moved, [("grid-1", "w1", 30), ("grid-2", "w1", 10), ("grid-2", "w2", 40)]);
        let other = LedgerBatch::payout(
            &id("producer-0001"),
            Iota::ZERO,
            0,
            &list(&[("grid-1", 30), ("grid-2", 50)]),
            &list(&[("w1", 40), ("w3", 40)]),
        );
        assert_ne!(batch.id, other.id, "another destination is another batch");
    }

    #[test]
    fn sawtooth_statuses_are_read_with_their_reasons() {
        let body = br#"{"data":[
            {"id":"a","status":"COMMITTED","invalid_transactions":[]},
            {"id":"b","status":"INVALID","invalid_transactions":[{"id":"t","message":"insufficient funds"}]},
            {"id":"c","status":"PENDING"},
            {"id":"d","status":"UNKNOWN"}
        ],"link":"http://ledger/batch_statuses?id=a,b,c,d"}"#;
        let statuses = Dialect::Sawtooth.parse_statuses(body).unwrap();
        assert_eq!(
            statuses,
            vec![
                ("a".to_owned(), BatchStatus::Committed),
                ("b".to_owned(), BatchStatus::Invalid(vec!["insufficient funds".to_owned()])),
                ("c".to_owned(), BatchStatus::Pending),
                ("d".to_owned(), BatchStatus::Unknown),
            ]
        );
    }

    #[test]
    fn splinter_statuses_are_read_and_valid_or_delayed_are_not_final() {
        let body = br#"[
            {"id":"a","status":{"statusType":"Committed","message":[]}},
            {"id":"b","status":{"statusType":"Invalid","message":[{"transaction_id":"t","error_message":"x"}]}},
            {"id":"c","status":{"statusType":"Valid","message":[]}},
            {"id":"d","status":{"statusType":"Delayed","message":[]}},
            {"id":"e","status":{"statusType":"Unknown","message":[]}}
        ]"#;
        let statuses = Dialect::Splinter.parse_statuses(body).unwrap();
        let finals: Vec<bool> = statuses.iter().map(|(_, s)| s.is_final()).collect();
        assert_eq!(finals, [true, true, false, false, false]);
        assert_eq!(statuses[2].1, BatchStatus::Pending);
    }

    #[test]
    fn malformed_or_unexpected_status_answers_are_errors() {
        for (dialect, body) in [
            (Dialect::Sawtooth, &b"[]"[..]),
            (Dialect::Sawtooth, br#"{"data":[{"id":"a","status":"DONE"}]}"#),
            (Dialect::Splinter, br#"{"data":[]}"#),
            (Dialect::Splinter, br#"[{"id":"a","status":{"statusType":"Finished"}}]"#),
            (Dialect::Sawtooth, b"<html>"),
        ] {
            assert!(dialect.parse_statuses(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
