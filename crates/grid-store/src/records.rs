//! Flat forms of domain records, shared by every adapter.
//!
//! An adapter maps a record to its columns or attributes and back; turning a
//! record into the domain runs it through the same parsers as outside input, so a
//! tampered or corrupt row is reported, never trusted. Keeping this in one place
//! means SQLite and DynamoDB cannot disagree about what a valid record is.

use grid_core::channel::ChannelSeed;
use grid_core::{
    ChannelCredentials, ChannelCursor, ChannelRoot, EpochMs, ItemName, ItemType, Registration, RegistrationId,
    RegistrationStatus, ReturnChannel, SideKey,
};

use crate::{StoreError, Versioned};

/// A registration as stored: plain strings and integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationRecord {
    pub id: String,
    pub item_name: Option<String>,
    pub item_type: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub removed_ms: Option<u64>,
    pub channel_root: Option<String>,
    pub channel_side_key: Option<String>,
    pub return_seed: Option<String>,
    pub return_side_key: Option<String>,
    pub return_next_index: Option<u64>,
    pub cursor_next_index: u64,
    pub cursor_closed: bool,
}

impl From<&Registration> for RegistrationRecord {
    fn from(r: &Registration) -> Self {
        Self {
            id: r.id.as_str().to_owned(),
            item_name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            item_type: r.item_type.as_str().to_owned(),
            created_ms: r.created.get(),
            updated_ms: r.updated.get(),
            removed_ms: match r.status {
                RegistrationStatus::Active => None,
                RegistrationStatus::Removed { at } => Some(at.get()),
            },
            channel_root: r.channel.as_ref().map(|c| c.root.as_str().to_owned()),
            channel_side_key: r.channel.as_ref().map(|c| c.side_key.expose().to_owned()),
            return_seed: r.return_channel.as_ref().map(|c| c.seed.expose_hex()),
            return_side_key: r.return_channel.as_ref().map(|c| c.side_key.expose().to_owned()),
            return_next_index: r.return_channel.as_ref().map(|c| c.next_index),
            cursor_next_index: r.cursor.next_index,
            cursor_closed: r.cursor.closed,
        }
    }
}

impl RegistrationRecord {
    /// Validates the record back into the domain.
    pub fn into_domain(self, version: u64) -> Result<Versioned<Registration>, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("registration {:?}: {what}: {e}", self.id))
        };
        let time = |what: &str, ms: u64| {
            i64::try_from(ms)
                .map_err(|e| corrupt(what, &e))
                .and_then(|ms| EpochMs::parse(ms).map_err(|e| corrupt(what, &e)))
        };
        let channel = match (&self.channel_root, &self.channel_side_key) {
            (Some(root), Some(key)) => Some(ChannelCredentials {
                root: ChannelRoot::parse(root.as_str()).map_err(|e| corrupt("channel root", &e))?,
                side_key: SideKey::parse(key.as_str()).map_err(|e| corrupt("side key", &e))?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("channel", &"root and side key must be stored together")),
        };
        let return_channel = match (&self.return_seed, &self.return_side_key, self.return_next_index) {
            (Some(seed), Some(key), Some(next_index)) => Some(ReturnChannel {
                seed: ChannelSeed::from_hex(seed).map_err(|e| corrupt("return seed", &e))?,
                side_key: SideKey::parse(key.as_str()).map_err(|e| corrupt("return side key", &e))?,
                next_index,
            }),
            (None, None, None) => None,
            _ => return Err(corrupt("return channel", &"seed, side key and index must be stored together")),
        };
        let registration = Registration {
            id: RegistrationId::parse(self.id.as_str()).map_err(|e| corrupt("id", &e))?,
            name: self.item_name.clone().map(ItemName::parse).transpose().map_err(|e| corrupt("name", &e))?,
            item_type: ItemType::parse(&self.item_type).map_err(|e| corrupt("type", &e))?,
            created: time("created", self.created_ms)?,
            updated: time("updated", self.updated_ms)?,
            status: match self.removed_ms {
                None => RegistrationStatus::Active,
                Some(at) => RegistrationStatus::Removed { at: time("removed", at)? },
            },
            channel,
            return_channel,
            cursor: ChannelCursor { next_index: self.cursor_next_index, closed: self.cursor_closed },
        };
        Ok(Versioned { value: registration, version })
    }
}
