//! What can go wrong for an agent: the network, a refusal, its channel, its state file.

use std::path::PathBuf;

use grid_client::channels::{ChannelClientError, ChannelError};
use grid_client::ledger::LedgerError;

/// An agent's step failed; what it had done is kept and the next step goes on from there.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot reach {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {message}")]
    Refused { url: String, status: u16, message: String },
    #[error("{url} answered something unreadable: {reason}")]
    Unreadable { url: String, reason: String },
    #[error(transparent)]
    Publish(#[from] ChannelError),
    #[error(transparent)]
    Read(#[from] ChannelClientError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("state file {path}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not readable state: {reason}")]
    CorruptState { path: PathBuf, reason: String },
}
