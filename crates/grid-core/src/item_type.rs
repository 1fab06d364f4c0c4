//! Whether a registered entity produces energy or consumes it.

use std::fmt;

/// The value given for `itemType` is not one the grid knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("itemType must be \"producer\" or \"consumer\"")]
pub struct ItemTypeError;

/// What a registration is: the grid reads a producer's output and a consumer's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    Producer,
    Consumer,
}

impl ItemType {
    pub const ALL: [ItemType; 2] = [Self::Producer, Self::Consumer];

    /// Parses the wire form (`"producer"` / `"consumer"`, exactly).
    pub fn parse(value: &str) -> Result<Self, ItemTypeError> {
        match value {
            "producer" => Ok(Self::Producer),
            "consumer" => Ok(Self::Consumer),
            _ => Err(ItemTypeError),
        }
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Consumer => "consumer",
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
    fn both_item_types_round_trip() {
        for t in [ItemType::Producer, ItemType::Consumer] {
            assert_eq!(ItemType::parse(t.as_str()), Ok(t));
        }
    }

    #[test]
    fn other_item_types_are_refused() {
        for bad in ["", "Producer", "CONSUMER", "prosumer", "producer ", "producer\0"] {
            assert_eq!(ItemType::parse(bad), Err(ItemTypeError), "{bad:?}");
        }
    }
}
