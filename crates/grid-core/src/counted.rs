//! Counts in messages people read: "1 item", "2 items", never "1 items".

use std::fmt;

/// `n` and its noun, singular for one and plural otherwise (`count(3, "address")` is
/// "3 addresses").
pub fn count(n: impl Into<u64>, noun: &'static str) -> Counted {
    Counted { n: n.into(), noun }
}

/// A number and its noun; see [`count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    n: u64,
    noun: &'static str,
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { n, noun } = *self;
        if n == 1 {
            write!(f, "1 {noun}")
        } else if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) {
            write!(f, "{n} {noun}es")
        } else {
            write!(f, "{n} {noun}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1u64, "item").to_string(), "1 item");
        assert_eq!(count(0u64, "item").to_string(), "0 items");
        assert_eq!(count(2u64, "item").to_string(), "2 items");
        assert_eq!(count(1u64, "address").to_string(), "1 address");
        assert_eq!(count(3u64, "address").to_string(), "3 addresses");
        assert_eq!(count(u64::MAX, "batch").to_string(), format!("{} batches", u64::MAX));
    }
}
