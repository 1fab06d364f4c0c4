//! Work messages: what the poller's dispatcher hands its workers through `poll-work`.
//!
//! A small envelope after the work-chain pattern: an ordered list of `items` and the
//! `hash` of its canonical body, which names the unit of work (idempotency key in logs
//! and dead-letter queues) and shows the message arrived intact.

use sha2::{Digest, Sha256};

use crate::RegistrationId;

/// Why a queue message is not a work message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    #[error("work message is not valid: {0}")]
    Json(String),
    #[error("work message hash does not match its items")]
    Hash,
}

/// A list of registrations to poll, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkMessage {
    hash: String,
    items: Vec<RegistrationId>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    hash: String,
    items: Vec<RegistrationId>,
}

/// The canonical body: `{"items":[…]}`, compact, in order.
fn hash_of(items: &[RegistrationId]) -> String {
    let body = serde_json::json!({ "items": items }).to_string();
    hex::encode(Sha256::digest(body.as_bytes()))
}

impl WorkMessage {
    pub fn new(items: Vec<RegistrationId>) -> Self {
        Self { hash: hash_of(&items), items }
    }

    /// Parses a message and checks its hash.
    pub fn parse(text: &str) -> Result<Self, WorkError> {
        let wire: Wire = serde_json::from_str(text).map_err(|e| WorkError::Json(e.to_string()))?;
        if wire.hash != hash_of(&wire.items) {
            return Err(WorkError::Hash);
        }
        Ok(Self { hash: wire.hash, items: wire.items })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&Wire { hash: self.hash.clone(), items: self.items.clone() })
            .expect("a work message serialises")
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn items(&self) -> &[RegistrationId] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<RegistrationId> {
        names.iter().map(|n| RegistrationId::parse(*n).unwrap()).collect()
    }

    #[test]
    fn a_work_message_round_trips_and_its_hash_names_its_items() {
        let message = WorkMessage::new(ids(&["producer-0001", "consumer-0001"]));
        assert_eq!(WorkMessage::parse(&message.to_json()).unwrap(), message);
        assert_ne!(message.hash(), WorkMessage::new(ids(&["consumer-0001", "producer-0001"])).hash(), "order matters");
        assert_eq!(message.hash().len(), 64);
    }

    #[test]
    fn a_tampered_or_malformed_work_message_is_refused() {
        let text = WorkMessage::new(ids(&["producer-0001"])).to_json();
        let tampered = text.replace("producer-0001", "producer-0002");
        assert_eq!(WorkMessage::parse(&tampered), Err(WorkError::Hash));
        for bad in ["", "{}", "[1]", r#"{"hash":"x","items":["../x"]}"#, r#"{"hash":"x","items":[],"more":1}"#] {
            assert!(matches!(WorkMessage::parse(bad), Err(WorkError::Json(_))), "{bad}");
        }
    }
}

/// A batch the grid saw become final, announced on the `completions` queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompletedBatch {
    pub batch_id: crate::BatchId,
    /// `payout` or `claim`.
    pub kind: String,
    pub registration: RegistrationId,
    pub amount: crate::Iota,
}

/// The completion envelope (work-chain pattern): ordered `items` and the `hash` of
/// their canonical body, so a subscriber can tell a redelivered message by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionMessage {
    hash: String,
    items: Vec<CompletedBatch>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CompletionWire {
    hash: String,
    items: Vec<CompletedBatch>,
}

fn completion_hash(items: &[CompletedBatch]) -> String {
    let body = serde_json::json!({ "items": items }).to_string();
    hex::encode(Sha256::digest(body.as_bytes()))
}

impl CompletionMessage {
    pub fn new(items: Vec<CompletedBatch>) -> Self {
        Self { hash: completion_hash(&items), items }
    }

    pub fn parse(text: &str) -> Result<Self, WorkError> {
        let wire: CompletionWire = serde_json::from_str(text).map_err(|e| WorkError::Json(e.to_string()))?;
        if wire.hash != completion_hash(&wire.items) {
            return Err(WorkError::Hash);
        }
        Ok(Self { hash: wire.hash, items: wire.items })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&CompletionWire { hash: self.hash.clone(), items: self.items.clone() })
            .expect("a completion serialises")
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn items(&self) -> &[CompletedBatch] {
        &self.items
    }
}

#[cfg(test)]
mod completion_tests {
    use super::*;

    #[test]
    fn a_completion_round_trips_and_refuses_tampering() {
        let message = CompletionMessage::new(vec![CompletedBatch {
            batch_id: crate::BatchId::parse("payout-1").unwrap(),
            kind: "payout".into(),
            registration: RegistrationId::parse("producer-0001").unwrap(),
            amount: crate::Iota::new(42),
        }]);
        let text = message.to_json();
        assert_eq!(CompletionMessage::parse(&text).unwrap(), message);
        assert_eq!(CompletionMessage::parse(&text.replace("42", "43")), Err(WorkError::Hash));
    }
}
