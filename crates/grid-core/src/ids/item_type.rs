//! Whether a registered entity produces energy, uses it, or both (a prosumer).

use std::fmt;

/// The value given for `itemType` is not one the grid knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("itemType must be \"producer\", \"consumer\" or \"prosumer\"")]
pub struct ItemTypeError;

/// What a registration is: the grid reads a producer's output, a consumer's usage, and
/// both from a prosumer (a home producing behind its own meter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    Producer,
    Consumer,
    Prosumer,
}

impl ItemType {
    pub const ALL: [ItemType; 3] = [Self::Producer, Self::Consumer, Self::Prosumer];

    /// Parses the wire form (`"producer"`, `"consumer"`, `"prosumer"`, exactly).
    pub fn parse(value: &str) -> Result<Self, ItemTypeError> {
        Self::ALL.into_iter().find(|t| t.as_str() == value).ok_or(ItemTypeError)
    }

    /// It sends output (and is paid for what it sells).
    pub fn sells(self) -> bool {
        matches!(self, Self::Producer | Self::Prosumer)
    }

    /// It sends usage (and is billed, on a return channel the grid opens for it).
    pub fn buys(self) -> bool {
        matches!(self, Self::Consumer | Self::Prosumer)
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Consumer => "consumer",
            Self::Prosumer => "prosumer",
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ItemType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_type_round_trips() {
        for t in ItemType::ALL {
            assert_eq!(ItemType::parse(t.as_str()), Ok(t));
        }
    }

    #[test]
    fn other_item_types_are_refused() {
        for bad in ["", "Producer", "CONSUMER", "Prosumer", "producer ", "producer\0"] {
            assert_eq!(ItemType::parse(bad), Err(ItemTypeError), "{bad:?}");
        }
    }
}
