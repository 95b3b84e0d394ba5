//! What can stop a background from showing, each with what an operator should check.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    InvalidUrl,
    NoCredentials,
    /// Also a rejected signature or an unknown access key.
    AccessDenied,
    WrongRegion,
    NoSuchBucket,
    NoSuchKey,
    Timeout,
    Unreachable,
    NotAnImage,
    TooLarge,
    CacheNotWritable,
    /// Any other answer from S3.
    S3Error,
}

impl Category {
    pub fn describe(self) -> &'static str {
        match self {
            Category::InvalidUrl => "invalid URL",
            Category::NoCredentials => "no credentials",
            Category::AccessDenied => "access denied",
            Category::WrongRegion => "wrong region",
            Category::NoSuchBucket => "no such bucket",
            Category::NoSuchKey => "no such key",
            Category::Timeout => "timeout",
            Category::Unreachable => "S3 unreachable",
            Category::NotAnImage => "not an image",
            Category::TooLarge => "too large",
            Category::CacheNotWritable => "cache not writable",
            Category::S3Error => "S3 error",
        }
    }
}

/// One failure: which kind, what to check (a sentence for the log and `/background`),
/// and the underlying error text when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub category: Category,
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    pub fn new(category: Category, check: impl Into<String>) -> Problem {
        Problem {
            category,
            check: check.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }
}

/// `access denied — check that …`: the text after "background image failed: ".
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} — {}", self.category.describe(), self.check)
    }
}
