//! Paging of the employee list: which page was asked for, and what one page shows.

/// Rows shown per page.
pub const PAGE_SIZE: i64 = 50;

/// A 1-based page number whose first row's offset fits an `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageNumber(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The page number must be a whole number of 1 or more.")]
pub struct InvalidPageNumber;

impl PageNumber {
    pub const FIRST: PageNumber = PageNumber(1);

    /// Parses the `page` query parameter; absent or empty means the first page.
    pub fn parse(raw: Option<&str>) -> Result<PageNumber, InvalidPageNumber> {
        match raw.map(str::trim).unwrap_or_default() {
            "" => Ok(PageNumber::FIRST),
            text => text
                .parse::<i64>()
                .ok()
                .filter(|p| (1..=i64::MAX / PAGE_SIZE).contains(p))
                .map(PageNumber)
                .ok_or(InvalidPageNumber),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// How many rows come before this page.
    pub fn offset(self) -> i64 {
        (self.0 - 1) * PAGE_SIZE
    }
}

/// One page of rows, with what the page says about where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub number: i64,
    /// Rows in the whole list.
    pub total: i64,
    /// The last page that has rows (1 for an empty list).
    pub last_page: i64,
    /// 1-based positions of the first and last row shown.
    pub first_shown: i64,
    pub last_shown: i64,
}

impl<T> Page<T> {
    pub fn new(number: PageNumber, rows: Vec<T>, total: i64) -> Page<T> {
        let first_shown = number.offset() + 1;
        Page {
            last_shown: first_shown + rows.len() as i64 - 1,
            first_shown,
            last_page: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
            number: number.get(),
            total,
            rows,
        }
    }

    pub fn has_previous(&self) -> bool {
        self.number > 1
    }

    pub fn has_next(&self) -> bool {
        self.number < self.last_page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_whole_and_positive() {
        assert_eq!(PageNumber::parse(None), Ok(PageNumber::FIRST));
        assert_eq!(PageNumber::parse(Some(" ")), Ok(PageNumber::FIRST));
        assert_eq!(PageNumber::parse(Some("3")).map(PageNumber::get), Ok(3));
        for bad in ["0", "-1", "x", "1.5", "9223372036854775807"] {
            assert_eq!(
                PageNumber::parse(Some(bad)),
                Err(InvalidPageNumber),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_page_knows_its_rows_and_neighbours() {
        let page = Page::new(PageNumber(2), vec![0; 10], PAGE_SIZE + 10);
        assert_eq!(
            (page.first_shown, page.last_shown, page.last_page),
            (51, 60, 2)
        );
        assert!(page.has_previous() && !page.has_next());
        let empty = Page::<()>::new(PageNumber::FIRST, vec![], 0);
        assert_eq!(empty.last_page, 1);
    }
}
