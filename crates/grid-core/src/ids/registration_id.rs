//! The id under which a producer or consumer is registered with the grid.

use crate::ids::id_segment::id_newtype;

id_newtype!(
    /// A registration id: 8–128 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
    ///
    /// The 8-character minimum keeps ids from being guessable words and guarantees that
    /// no registration id collides with a fixed route segment such as `item`.
    RegistrationId,
    "registration id",
    min = 8
);

impl RegistrationId {
    /// The id with ASCII letters lowercased: two ids that fold alike look alike to
    /// people (`Producer-0001`, `producer-0001`), so they are one id for uniqueness.
    pub fn folded(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdError;

    #[test]
    fn a_registration_id_needs_at_least_eight_characters() {
        assert!(matches!(RegistrationId::parse("item"), Err(IdError::Length { .. })));
        assert!(matches!(RegistrationId::parse("1234567"), Err(IdError::Length { .. })));
        assert_eq!(RegistrationId::parse("12345678").unwrap().as_str(), "12345678");
    }

    #[test]
    fn a_registration_id_is_refused_with_a_traversal_attempt() {
        for hostile in ["../../etc/passwd", "%2e%2e%2fsecrets", "producer/../x"] {
            assert!(RegistrationId::parse(hostile).is_err(), "{hostile}");
        }
    }

    #[test]
    fn ids_that_differ_only_in_case_fold_alike() {
        let a = RegistrationId::parse("Producer-0001").unwrap();
        let b = RegistrationId::parse("producer-0001").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.folded(), b.folded());
        assert_ne!(a.folded(), RegistrationId::parse("producer-0002").unwrap().folded());
    }

    #[test]
    fn deserializing_validates_the_id() {
        let ok: RegistrationId = serde_json::from_str("\"producer-0001\"").unwrap();
        assert_eq!(ok.to_string(), "producer-0001");
        assert!(serde_json::from_str::<RegistrationId>("\"..\"").is_err());
    }
}
