//! The page background: an image from a private S3 bucket, cached locally and served
//! under a content-hashed path. Until an image is cached, pages use the colour.
//!
//! A worker task (`worker`) owns everything that changes: it reads the configured URL
//! (`url`), downloads the object (`fetch`), checks its format (`format`), writes it to
//! the cache folder (`cache`), and publishes a `Snapshot` on a watch channel. Pages and
//! `GET /background` only read the latest snapshot (`serve`), so a page switches from
//! one image to the next in one step and never waits for S3.

mod cache;
mod fetch;
mod format;
mod problem;
mod serve;
mod url;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use serde::Serialize;
use tokio::sync::watch;

use crate::config::BackgroundConfig;
use crate::metrics::Metrics;

pub use self::problem::{Category, Problem};
pub use self::serve::{image_routes, status};
pub use self::url::ObjectLocation;

/// Where the background stands, as `GET /background` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No URL configured: the colour.
    None,
    /// Downloading the configured object; the previous image (if any) is still shown.
    Fetching,
    /// `image` is the configured object.
    Ready,
    /// The configured object cannot be shown (see `last_error`): the colour.
    Failed,
}

impl State {
    /// Every state's name, as `GET /background` and the `background_state` gauge show it.
    pub const NAMES: [&'static str; 4] = ["none", "fetching", "ready", "failed"];

    pub fn name(self) -> &'static str {
        match self {
            State::None => "none",
            State::Fetching => "fetching",
            State::Ready => "ready",
            State::Failed => "failed",
        }
    }
}

/// The configured object: the URL as given, where it came from, and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub url: String,
    /// `BACKGROUND_IMAGE_URL` or `BACKGROUND_IMAGE_URL_FILE`.
    pub from: &'static str,
    /// `None` when the URL is not one of the accepted forms.
    #[serde(flatten)]
    pub location: Option<ObjectLocation>,
}

/// An image in the cache folder that pages may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachedImage {
    /// Where the app serves it: `/background/<sha256-prefix>.<extension>`.
    pub path: Arc<str>,
    #[serde(skip)]
    pub file_name: String,
    #[serde(skip)]
    pub file: PathBuf,
    pub content_type: &'static str,
    pub size: u64,
    pub sha256: String,
    pub bucket: String,
    pub key: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// RFC 3339, UTC.
    pub fetched_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    #[serde(flatten)]
    pub problem: Problem,
    /// RFC 3339, UTC.
    pub at: String,
}

/// Everything pages and operators can know about the background, replaced as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub state: State,
    pub source: Option<Source>,
    /// The image pages show.
    pub image: Option<Arc<CachedImage>>,
    /// The image shown before `image`: still served, for pages rendered just before the
    /// switch; its file is deleted at the next switch.
    #[serde(skip)]
    pub previous: Option<Arc<CachedImage>>,
    /// When S3 was last asked, whatever the answer.
    pub last_checked_at: Option<String>,
    /// The latest failure; cleared by a success.
    pub last_error: Option<Failure>,
}

impl Snapshot {
    fn new(state: State) -> Snapshot {
        Snapshot {
            state,
            source: None,
            image: None,
            previous: None,
            last_checked_at: None,
            last_error: None,
        }
    }
}

/// Handle shared by the pages; cheap to clone. The worker stops when the last handle
/// is dropped.
#[derive(Clone)]
pub struct Background {
    snapshot: watch::Receiver<Snapshot>,
}

impl Background {
    /// Starts the worker (when a URL or URL file is configured) and returns at once: the
    /// first download happens while the server already answers.
    pub fn start(config: &BackgroundConfig, metrics: Metrics) -> Background {
        let configured = config.url.is_some() || config.url_file.is_some();
        let initial = if configured {
            State::Fetching
        } else {
            State::None
        };
        let (sender, snapshot) = watch::channel(Snapshot::new(initial));
        metrics.background_state(initial.name(), &State::NAMES);
        if configured {
            tokio::spawn(worker::run(config.clone(), sender, metrics));
        } else {
            tracing::info!(
                "no background image configured (BACKGROUND_IMAGE_URL or BACKGROUND_IMAGE_URL_FILE): pages use the colour"
            );
        }
        Background { snapshot }
    }

    /// Public path of the image pages show, when there is one.
    pub fn current_path(&self) -> Option<Arc<str>> {
        self.snapshot
            .borrow()
            .image
            .as_ref()
            .map(|image| image.path.clone())
    }

    /// The latest snapshot. Do not hold it across an `.await`.
    fn snapshot(&self) -> watch::Ref<'_, Snapshot> {
        self.snapshot.borrow()
    }
}

fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}
