//! An item of the storage API: any JSON document, checked once and kept verbatim.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Why a body is not an acceptable JSON item.
#[derive(Debug, thiserror::Error)]
pub enum JsonItemError {
    #[error("item is not valid JSON: {0}")]
    Invalid(#[source] serde_json::Error),
    #[error("item has the key {0:?} twice in one object; JSON keys must be unique")]
    DuplicateKey(String),
}

/// A JSON document as the client sent it (its exact text), known to be well formed.
///
/// Parsing rejects what is ambiguous rather than silently picking a meaning: duplicate
/// keys in an object (different parsers keep different values) and nesting deeper than
/// serde_json's recursion limit of 128.
#[derive(Clone)]
pub struct JsonItem(Box<RawValue>);

impl JsonItem {
    /// Validates `bytes` as one JSON document.
    pub fn parse(bytes: &[u8]) -> Result<Self, JsonItemError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        Checked::deserialize_into(&mut de).map_err(|e| match DuplicateKey::take(&e) {
            Some(key) => JsonItemError::DuplicateKey(key),
            None => JsonItemError::Invalid(e),
        })?;
        de.end().map_err(JsonItemError::Invalid)?;
        let raw: Box<RawValue> = serde_json::from_slice(bytes).map_err(JsonItemError::Invalid)?;
        Ok(Self(raw))
    }

    /// A document this type checked when it was stored, read back: only parsed as JSON
    /// again (a store holding something else is corrupt), not checked for duplicate keys
    /// a second time.
    pub fn from_stored(text: String) -> Result<Self, JsonItemError> {
        RawValue::from_string(text).map(Self).map_err(JsonItemError::Invalid)
    }

    /// The document's text, exactly as received (less surrounding whitespace).
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The document as a raw JSON value, to embed in a response without re-encoding.
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }
}

impl fmt::Debug for JsonItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonItem({} bytes)", self.as_str().len())
    }
}

impl PartialEq for JsonItem {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl serde::Serialize for JsonItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Carries a duplicate key out of serde's stringly error channel.
struct DuplicateKey;

impl DuplicateKey {
    const PREFIX: &'static str = "duplicate key: ";

    fn error<E: de::Error>(key: &str) -> E {
        E::custom(format_args!("{}{key}", Self::PREFIX))
    }

    fn take(e: &serde_json::Error) -> Option<String> {
        let text = e.to_string();
        let rest = text.strip_prefix(Self::PREFIX)?;
        // serde_json appends " at line L column C".
        let end = rest.rfind(" at line ").unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

/// Walks a JSON document without building it, refusing duplicate object keys.
struct Checked;

impl Checked {
    fn deserialize_into<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> de::DeserializeSeed<'de> for Checked {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Checked)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !seen.insert(key.clone().into_owned()) {
                return Err(DuplicateKey::error(&key));
            }
            map.next_value_seed(Checked)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_json_value_is_an_item_and_its_text_is_kept() {
        for doc in [r#"{"a":1,"b":[true,null,"x"]}"#, "42", "\"text\"", "[]", "null", r#"{"n":1.5e3}"#] {
            assert_eq!(JsonItem::parse(doc.as_bytes()).unwrap().as_str(), doc);
        }
    }

    #[test]
    fn escaped_keys_are_compared_after_unescaping() {
        let err = JsonItem::parse(br#"{"a":1,"\u0061":2}"#).unwrap_err();
        assert!(matches!(err, JsonItemError::DuplicateKey(ref k) if k == "a"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let err = JsonItem::parse(br#"{"x":{"k":1,"k":2}}"#).unwrap_err();
        assert_eq!(err.to_string(), "item has the key \"k\" twice in one object; JSON keys must be unique");
        assert!(JsonItem::parse(br#"[{"k":1},{"k":2}]"#).is_ok());
    }

    #[test]
    fn malformed_json_is_refused_with_its_position() {
        for bad in [&b"{"[..], b"", b"{'a':1}", b"[1,]", b"{\"a\":1} trailing", b"\xff\xfe", b"NaN"] {
            let err = JsonItem::parse(bad).unwrap_err();
            assert!(matches!(err, JsonItemError::Invalid(_)), "{bad:?}");
        }
    }

    #[test]
    fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(JsonItem::parse(deep.as_bytes()), Err(JsonItemError::Invalid(_))));
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(JsonItem::parse(fine.as_bytes()).is_ok());
    }

    #[test]
    fn an_item_serializes_as_its_own_json() {
        let item = JsonItem::parse(br#"{"kWh": 1.25}"#).unwrap();
        assert_eq!(serde_json::to_string(&item).unwrap(), r#"{"kWh": 1.25}"#);
    }
}
