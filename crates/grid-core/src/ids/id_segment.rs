//! The shared rule for identifiers that become path segments and storage keys.
//!
//! Registration ids, storage contexts and item ids end up in URLs, S3 keys and file
//! names, so they are restricted to a small, unambiguous alphabet. That alphabet makes
//! path traversal (`..`, `/`, `%2e%2e`), NUL bytes and Unicode look-alikes impossible
//! by construction instead of by escaping.

/// Why a string is not a valid identifier.
///
/// The offending value is never echoed whole (it may be 10 KB of garbage); only its
/// length or the first bad character is reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; it must be {min} to {max}")]
    Length { what: &'static str, len: usize, min: usize, max: usize },
    #[error("{what} contains {found:?}; only A-Z, a-z, 0-9, '.', '_' and '-' are allowed")]
    Character { what: &'static str, found: char },
    #[error("{what} cannot be '.' or '..'")]
    DotSegment { what: &'static str },
}

/// Longest identifier accepted anywhere.
pub(crate) const MAX_LEN: usize = 128;

/// [`check`]'s rule as an anchored regular expression (ECMA-262, as the OpenAPI document
/// states it): the alphabet, less the dot segments `.` and `..`. Spelled without a
/// look-ahead, which not every regex engine has; the length bounds are stated apart.
pub(crate) const PATTERN: &str = r"^(?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-]|\.\.[A-Za-z0-9._-])[A-Za-z0-9._-]*$";

/// Checks `value` against the identifier alphabet and length bounds.
pub(crate) fn check(value: &str, what: &'static str, min: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    if let Some(found) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(IdError::Character { what, found });
    }
    // Only ASCII is left, so the byte length is the character count.
    let len = value.len();
    if !(min..=MAX_LEN).contains(&len) {
        return Err(IdError::Length { what, len, min, max: MAX_LEN });
    }
    if value == "." || value == ".." {
        return Err(IdError::DotSegment { what });
    }
    Ok(())
}

/// Declares a validated identifier newtype over `String`.
///
/// The three storage identifiers share one rule and differ only in name and minimum
/// length, so they share one definition instead of three copies.
macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, min = $min:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The fewest characters accepted.
            pub const MIN_LEN: usize = $min;
            /// The most characters accepted.
            pub const MAX_LEN: usize = $crate::ids::id_segment::MAX_LEN;
            /// The accepted characters, as an anchored regular expression (lengths apart).
            pub const PATTERN: &str = $crate::ids::id_segment::PATTERN;

            /// Parses and validates an identifier received from outside.
            pub fn parse(value: impl Into<String>) -> Result<Self, $crate::IdError> {
                let value = value.into();
                $crate::ids::id_segment::check(&value, $what, Self::MIN_LEN)?;
                Ok(Self(value))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::IdError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use id_newtype;

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> bool {
        check(v, "id", 1).is_ok()
    }

    #[test]
    fn the_identifier_alphabet_is_accepted() {
        assert!(ok("abc-DEF_123.json"));
        assert!(ok("a"));
        assert!(ok("..."));
        assert!(ok(".hidden"));
        assert!(ok(&"x".repeat(MAX_LEN)));
    }

    #[test]
    fn dot_segments_are_refused() {
        assert_eq!(check(".", "id", 1), Err(IdError::DotSegment { what: "id" }));
        assert_eq!(check("..", "id", 1), Err(IdError::DotSegment { what: "id" }));
    }

    #[test]
    fn separators_escapes_and_control_characters_are_refused() {
        for hostile in ["a/b", "..%2f", "%2e%2e", "a\\b", "a\0b", "a b", "a\nb", "a?b", "a#b", "a:b"] {
            assert!(matches!(check(hostile, "id", 1), Err(IdError::Character { .. })), "{hostile:?} was accepted");
        }
    }

    #[test]
    fn non_ascii_look_alikes_are_refused() {
        // Cyrillic 'а', fullwidth '.', a combining mark and a right-to-left override.
        for hostile in ["p\u{0430}ypal", "a\u{FF0E}\u{FF0E}", "e\u{0301}", "a\u{202E}b"] {
            let err = check(hostile, "id", 1).unwrap_err();
            assert!(matches!(err, IdError::Character { .. }), "{hostile:?}: {err}");
        }
    }

    #[test]
    fn empty_and_overlong_values_are_refused_without_echoing_them() {
        assert_eq!(check("", "id", 1), Err(IdError::Empty { what: "id" }));
        let huge = "a".repeat(10 * 1024);
        let err = check(&huge, "id", 1).unwrap_err();
        assert_eq!(err, IdError::Length { what: "id", len: 10 * 1024, min: 1, max: MAX_LEN });
        assert!(err.to_string().len() < 100);
    }

    #[test]
    fn the_minimum_length_is_enforced() {
        assert!(matches!(check("short", "id", 8), Err(IdError::Length { len: 5, min: 8, .. })));
        assert!(check("longenough", "id", 8).is_ok());
    }

    #[test]
    fn the_first_bad_character_is_named_in_the_message() {
        let msg = check("ok\0bad", "item id", 1).unwrap_err().to_string();
        assert_eq!(msg, "item id contains '\\0'; only A-Z, a-z, 0-9, '.', '_' and '-' are allowed");
    }
}
