//! An agent's own channel: its keys and where its next message goes, kept in a state
//! file (when the agent has one) so a restarted agent continues the same channel.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use grid_client::channels::{ChannelClient, ChannelWriter};
use grid_core::channel::{ChannelAccess, ChannelSecrets, ChannelSeed, Command};
use grid_core::devices::ItemSealer;
use grid_core::{AccountKey, SideKey};
use serde::{Deserialize, Serialize};

use crate::AgentError;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    seed: String,
    side_key: String,
    next_index: u64,
}

/// The channel an agent writes, with its writer.
pub struct OwnChannel {
    seed: ChannelSeed,
    secrets: ChannelSecrets,
    writer: ChannelWriter,
    state_file: Option<PathBuf>,
}

impl OwnChannel {
    /// The channel saved in `state_file`, or a new one (saved there, if given).
    pub fn open(state_file: Option<&Path>, client: Arc<dyn ChannelClient>) -> Result<Self, AgentError> {
        let saved = match state_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(parse(path, &text)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(AgentError::State { path: path.to_owned(), source }),
            },
            None => None,
        };
        let (seed, side_key, next_index) = saved.unwrap_or_else(|| (ChannelSeed::generate(), SideKey::generate(), 0));
        let secrets = ChannelSecrets::new(&seed, side_key);
        let writer = ChannelWriter::new(secrets.clone(), next_index, client);
        let channel = Self { seed, secrets, writer, state_file: state_file.map(Path::to_owned) };
        channel.save()?;
        Ok(channel)
    }

    /// What a reader needs: the root and the side key.
    pub fn access(&self) -> &ChannelAccess {
        self.secrets.access()
    }

    /// The key that spends from this device's ledger account.
    pub fn account_key(&self) -> AccountKey {
        AccountKey::derive(&self.seed)
    }

    /// The key that seals what this device keeps private in the grid's storage.
    pub fn sealer(&self) -> ItemSealer {
        ItemSealer::new(&self.seed)
    }

    pub fn next_index(&self) -> u64 {
        self.writer.next_index()
    }

    /// Opens the channel with `hello`, unless it already carries it.
    pub async fn hello(&mut self) -> Result<(), AgentError> {
        if self.writer.next_index() == 0 {
            self.writer.publish_once(&Command::Hello).await?;
            self.save()?;
        }
        Ok(())
    }

    /// Publishes `command` and remembers the next index; returns the index used.
    pub async fn publish(&mut self, command: &Command) -> Result<u64, AgentError> {
        let index = self.writer.publish(command).await?;
        self.save()?;
        Ok(index)
    }

    /// Ends the channel with `goodbye`.
    pub async fn goodbye(&mut self) -> Result<(), AgentError> {
        self.writer.publish_once(&Command::Goodbye).await?;
        self.save()
    }

    fn save(&self) -> Result<(), AgentError> {
        let Some(path) = &self.state_file else { return Ok(()) };
        let saved = Saved {
            seed: self.seed.expose_hex(),
            side_key: self.secrets.access().side_key().expose().to_owned(),
            next_index: self.writer.next_index(),
        };
        let text = serde_json::to_string_pretty(&saved).expect("plain data serializes");
        let aside = path.with_extension("partial");
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&aside, text)?;
            // The seed signs for the agent: only its owner may read it.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o600))?;
            }
            std::fs::rename(&aside, path)
        };
        write().map_err(|source| AgentError::State { path: path.clone(), source })
    }
}

fn parse(path: &Path, text: &str) -> Result<(ChannelSeed, SideKey, u64), AgentError> {
    let corrupt = |reason: String| AgentError::CorruptState { path: path.to_owned(), reason };
    let saved: Saved = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    let seed = ChannelSeed::from_hex(&saved.seed).map_err(|e| corrupt(e.to_string()))?;
    let side_key = SideKey::parse(saved.side_key).map_err(|e| corrupt(e.to_string()))?;
    Ok((seed, side_key, saved.next_index))
}
