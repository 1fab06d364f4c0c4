//! The "folder" a registration stores items under in the grid's storage API.

use crate::ids::id_segment::id_newtype;

id_newtype!(
    /// A storage context: 1–128 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
    StorageContext,
    "storage context",
    min = 1
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_character_context_is_valid() {
        assert_eq!(StorageContext::parse("c").unwrap().as_str(), "c");
    }

    #[test]
    fn a_context_cannot_climb_out_of_its_registration() {
        assert!(StorageContext::parse("..").is_err());
        assert!(StorageContext::parse("a/..").is_err());
    }
}
