//! Page-number paging as the seed's storage API defines it.
//!
//! The seed pages with `page` (from 0) and `pageSize` (also spelled `page-size`) and
//! answers with `totalPages` and `totalItems`, so those numbers are computed here once.

/// Why a paging request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error("page must be a whole number from 0, got {0:?}")]
    Page(String),
    #[error("pageSize must be a whole number from 1 to {max}, got {given:?}", max = PageRequest::MAX_SIZE)]
    Size { given: String },
    #[error("pageSize and page-size were both given with different values")]
    ConflictingSize,
}

/// One page of a listing: which page, and how many entries per page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u64,
    size: u32,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u32 = 10;
    pub const MAX_SIZE: u32 = 100;

    /// Parses the query parameters. `size` and `size_alias` are `pageSize` and
    /// `page-size`; giving both is fine only when they agree.
    pub fn parse(page: Option<&str>, size: Option<&str>, size_alias: Option<&str>) -> Result<Self, PagingError> {
        let page = match page {
            None => 0,
            Some(raw) => raw.parse::<u64>().map_err(|_| PagingError::Page(clip(raw)))?,
        };
        let size = match (size, size_alias) {
            (Some(a), Some(b)) if a != b => return Err(PagingError::ConflictingSize),
            (Some(raw), _) | (None, Some(raw)) => raw
                .parse::<u32>()
                .ok()
                .filter(|s| (1..=Self::MAX_SIZE).contains(s))
                .ok_or_else(|| PagingError::Size { given: clip(raw) })?,
            (None, None) => Self::DEFAULT_SIZE,
        };
        Ok(Self { page, size })
    }

    /// A request built in code (already within bounds).
    pub fn new(page: u64, size: u32) -> Result<Self, PagingError> {
        Self::parse(Some(&page.to_string()), Some(&size.to_string()), None)
    }

    pub fn page(self) -> u64 {
        self.page
    }

    pub fn size(self) -> u32 {
        self.size
    }

    /// How many entries precede this page. Saturates: a page far past the end is empty.
    pub fn offset(self) -> u64 {
        self.page.saturating_mul(u64::from(self.size))
    }

    /// How many pages `total_items` fill (the last one possibly partial).
    pub fn total_pages(self, total_items: u64) -> u64 {
        total_items.div_ceil(u64::from(self.size))
    }
}

/// Echo at most a short prefix of a bad value back to the caller.
fn clip(raw: &str) -> String {
    raw.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_page_zero_of_ten() {
        let p = PageRequest::parse(None, None, None).unwrap();
        assert_eq!((p.page(), p.size()), (0, 10));
    }

    #[test]
    fn both_spellings_of_page_size_are_understood() {
        assert_eq!(PageRequest::parse(Some("2"), Some("5"), None).unwrap().size(), 5);
        assert_eq!(PageRequest::parse(Some("2"), None, Some("7")).unwrap().size(), 7);
        assert_eq!(PageRequest::parse(None, Some("7"), Some("7")).unwrap().size(), 7);
        assert_eq!(PageRequest::parse(None, Some("7"), Some("8")), Err(PagingError::ConflictingSize));
    }

    #[test]
    fn page_sizes_outside_1_to_100_are_refused() {
        for bad in ["0", "101", "abc", "-1", "1.5", "", " 5", "99999999999"] {
            assert!(matches!(PageRequest::parse(None, Some(bad), None), Err(PagingError::Size { .. })), "{bad:?}");
        }
        assert!(PageRequest::parse(None, Some("1"), None).is_ok());
        assert!(PageRequest::parse(None, Some("100"), None).is_ok());
    }

    #[test]
    fn negative_or_non_numeric_pages_are_refused() {
        for bad in ["-1", "x", "1e3", ""] {
            assert!(matches!(PageRequest::parse(Some(bad), None, None), Err(PagingError::Page(_))));
        }
    }

    #[test]
    fn total_pages_count_the_last_partial_page() {
        let p = PageRequest::new(0, 10).unwrap();
        assert_eq!(p.total_pages(0), 0);
        assert_eq!(p.total_pages(1), 1);
        assert_eq!(p.total_pages(10), 1);
        assert_eq!(p.total_pages(11), 2);
        assert_eq!(p.total_pages(25), 3);
    }

    #[test]
    fn a_huge_page_number_saturates_instead_of_overflowing() {
        let p = PageRequest::parse(Some(&u64::MAX.to_string()), Some("100"), None).unwrap();
        assert_eq!(p.offset(), u64::MAX);
    }

    #[test]
    fn a_long_bad_value_is_clipped_in_the_message() {
        let err = PageRequest::parse(Some(&"x".repeat(10_000)), None, None).unwrap_err();
        assert!(err.to_string().len() < 100);
    }
}
