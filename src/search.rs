//! What a search of the employee list matches, written once for both backends.
//!
//! A search matches an employee when its text is a *prefix* of the first name, last
//! name, primary skill or location, ignoring case and accents: "lov", "LOVE" and "lôve"
//! all find "Lovelace". Prefix rather than substring because a B-tree index answers a
//! prefix (an index range) and cannot answer a substring, which needs a scan of every
//! row (or a FULLTEXT index, which MySQL and SQLite define differently and which matches
//! words, not letters). The characters `%` and `_` are ordinary characters here, never
//! wildcards.
//!
//! "Ignoring case and accents" is what MySQL's `utf8mb4_unicode_ci` collation (the
//! table's) does. SQLite's own `LIKE` and `NOCASE` fold ASCII letters only, so on SQLite
//! the app registers the collation `search_fold` that compares `fold`ed text, and the
//! search indexes use it.

use std::cmp::Ordering;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::employee::TEXT_MAX_CHARS;

/// The SQLite collation that compares text as a search does (the name the migrations'
/// indexes use).
pub const SQLITE_COLLATION: &str = "search_fold";

/// What was typed into the search box, trimmed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    text: String,
    folded: String,
}

/// Why a search cannot run; the message is shown on the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSearch {
    #[error(
        "The search text must be at most {TEXT_MAX_CHARS} characters (it has {0}): no name, skill or location is longer."
    )]
    TooLong(usize),
    #[error("The search text must not contain control characters.")]
    NotText,
    #[error("The search text has no letter, digit or sign to look for.")]
    NothingToMatch,
}

impl SearchText {
    /// Parses the `q` parameter; absent or blank means no search (the whole list).
    pub fn parse(raw: Option<&str>) -> Result<Option<SearchText>, InvalidSearch> {
        let text = raw.unwrap_or_default().trim();
        if text.is_empty() {
            return Ok(None);
        }
        let chars = text.chars().count();
        if chars > TEXT_MAX_CHARS {
            return Err(InvalidSearch::TooLong(chars));
        }
        // Noncharacters are refused too: U+10FFFF would leave SQLite's range without an
        // upper bound (see `upper_bound`).
        if text.chars().any(|c| c.is_control() || is_noncharacter(c)) {
            return Err(InvalidSearch::NotText);
        }
        let folded: String = fold(text).collect();
        if folded.is_empty() {
            // Only combining marks, which folding removes.
            return Err(InvalidSearch::NothingToMatch);
        }
        Ok(Some(SearchText {
            text: text.to_owned(),
            folded,
        }))
    }

    /// The text as typed (trimmed), for the search box and the links.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A `LIKE` pattern for a prefix of the text as typed, with `escape` before every
    /// `%`, `_` and `escape` in it, so that they match themselves.
    pub fn like_prefix(&self, escape: char) -> String {
        let mut pattern = String::with_capacity(self.text.len() + 4);
        for c in self.text.chars() {
            if matches!(c, '%' | '_') || c == escape {
                pattern.push(escape);
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }

    /// The half-open range of folded text that starts with the folded search text:
    /// `lower <= fold(value) < upper` exactly when `value` matches.
    pub fn folded_range(&self) -> (&str, String) {
        (&self.folded, upper_bound(&self.folded))
    }
}

/// The smallest string above every string that starts with `prefix`: the prefix with
/// its last character replaced by the next one. Strings compare by code point (UTF-8
/// bytes compare the same way). `prefix` is non-empty and holds no U+10FFFF.
fn upper_bound(prefix: &str) -> String {
    let mut upper = prefix.to_owned();
    let last = upper
        .pop()
        .expect("a search text folds to at least one character");
    let next = (last as u32 + 1..=char::MAX as u32)
        .find_map(char::from_u32)
        .expect("no noncharacter U+10FFFF in a search text");
    upper.push(next);
    upper
}

fn is_noncharacter(c: char) -> bool {
    let c = c as u32;
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

/// Text as a search sees it: decomposed (NFD), without combining marks (accents),
/// lower-cased. "Émile", "EMILE" and "émile" all fold to "emile".
pub fn fold(text: &str) -> impl Iterator<Item = char> + '_ {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
}

/// The `search_fold` collation: folded texts in code-point order. Text that folds the
/// same is equal. It never allocates: SQLite calls it for every comparison in an index.
pub fn compare_folded(a: &str, b: &str) -> Ordering {
    fold(a).cmp(fold(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> SearchText {
        SearchText::parse(Some(raw)).unwrap().unwrap()
    }

    /// Whether `value` matches `search` through the SQLite range.
    fn in_range(search: &SearchText, value: &str) -> bool {
        let (lower, upper) = search.folded_range();
        compare_folded(value, lower).is_ge() && compare_folded(value, &upper).is_lt()
    }

    #[test]
    fn blank_is_no_search_and_bad_text_is_explained() {
        assert_eq!(SearchText::parse(None), Ok(None));
        assert_eq!(SearchText::parse(Some("  ")), Ok(None));
        assert_eq!(
            SearchText::parse(Some(&"a".repeat(65))),
            Err(InvalidSearch::TooLong(65))
        );
        assert!(SearchText::parse(Some(&"é".repeat(64))).is_ok());
        for bad in ["a\u{0}", "a\nb", "\u{10FFFF}", "x\u{FDD0}"] {
            assert_eq!(
                SearchText::parse(Some(bad)),
                Err(InvalidSearch::NotText),
                "{bad:?}"
            );
        }
        assert_eq!(
            SearchText::parse(Some("\u{301}")),
            Err(InvalidSearch::NothingToMatch)
        );
        assert_eq!(parse("  Ada ").as_str(), "Ada");
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        for (a, b) in [
            ("Émile", "emile"),
            ("ÉMILE", "émile"),
            ("Øresund", "øresund"),
            ("ÇA", "ça"),
            ("Straße", "STRAßE"),
        ] {
            assert_eq!(compare_folded(a, b), Ordering::Equal, "{a} vs {b}");
        }
        assert_eq!(compare_folded("a", "b"), Ordering::Less);
        assert_eq!(fold("İstanbul").collect::<String>(), "istanbul");
    }

    #[test]
    fn a_search_matches_prefixes_only() {
        let lov = parse("LÔV");
        for hit in ["Lovelace", "lovely", "Lôv", "LOV"] {
            assert!(in_range(&lov, hit), "{hit}");
        }
        for miss in ["Glover", "Lo", "Lpv", "Low", ""] {
            assert!(!in_range(&lov, miss), "{miss}");
        }
    }

    #[test]
    fn wildcards_are_ordinary_characters() {
        assert_eq!(parse("5%_!x").like_prefix('!'), "5!%!_!!x%");
        let percent = parse("50%");
        assert!(in_range(&percent, "50% off"));
        assert!(!in_range(&percent, "500"));
    }

    #[test]
    fn the_upper_bound_skips_surrogates_and_handles_the_last_characters() {
        assert_eq!(upper_bound("ab"), "ac");
        assert_eq!(upper_bound("a\u{D7FF}"), "a\u{E000}");
        assert_eq!(upper_bound("\u{10FFFD}"), "\u{10FFFE}");
    }
}
