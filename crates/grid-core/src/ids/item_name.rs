//! The human-readable name of a registered entity.

/// Why an `itemName` is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemNameError {
    #[error("itemName is empty")]
    Empty,
    #[error("itemName is {len} characters long; at most {max} are allowed", max = ItemName::MAX_CHARS)]
    TooLong { len: usize },
    #[error("itemName contains the control character {found:?}")]
    Control { found: char },
}

/// A display name: 1–200 Unicode characters, no control characters.
///
/// Names are shown on the operator portal, so control characters (newlines, escape
/// sequences, bidi overrides) are refused rather than rendered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ItemName(String);

impl ItemName {
    pub const MAX_CHARS: usize = 200;
    /// What [`parse`](Self::parse) refuses inside a name, as an anchored regular
    /// expression (ECMA-262): control characters (Unicode's Cc, as `char::is_control`)
    /// and the bidirectional formatting characters of `is_bidi_control`. Lengths apart.
    pub const PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u200E\u200F\u202A-\u202E\u2066-\u2069]+$";

    /// Parses and validates a name received from outside.
    pub fn parse(value: impl Into<String>) -> Result<Self, ItemNameError> {
        let value = value.into();
        if value.is_empty() {
            return Err(ItemNameError::Empty);
        }
        let len = value.chars().count();
        if len > Self::MAX_CHARS {
            return Err(ItemNameError::TooLong { len });
        }
        if let Some(found) = value.chars().find(|c| c.is_control() || is_bidi_control(*c)) {
            return Err(ItemNameError::Control { found });
        }
        Ok(Self(value))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bidirectional formatting characters can make a name display as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

impl<'de> serde::Deserialize<'de> for ItemName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_names_are_welcome() {
        assert_eq!(ItemName::parse("Solaranlage Süd ☀").unwrap().as_str(), "Solaranlage Süd ☀");
    }

    #[test]
    fn control_and_bidi_characters_are_refused_in_names() {
        assert_eq!(ItemName::parse("a\nb"), Err(ItemNameError::Control { found: '\n' }));
        assert_eq!(ItemName::parse("a\0"), Err(ItemNameError::Control { found: '\0' }));
        assert_eq!(ItemName::parse("evil\u{202E}gnp.exe"), Err(ItemNameError::Control { found: '\u{202E}' }));
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert_eq!(ItemName::parse(""), Err(ItemNameError::Empty));
        assert_eq!(ItemName::parse("é".repeat(201)), Err(ItemNameError::TooLong { len: 201 }));
        assert!(ItemName::parse("é".repeat(200)).is_ok());
    }
}
