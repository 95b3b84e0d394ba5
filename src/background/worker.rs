//! The one task that changes the background: it follows the configured URL (the URL
//! file is re-read every few seconds), re-checks the object every
//! `BACKGROUND_REFRESH_SECS` with its ETag, and publishes each outcome as a snapshot.
//! Each change of state is logged once.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::cache::Cache;
use super::fetch::{Fetched, Object, S3Fetcher};
use super::format::{self, ImageFormat};
use super::problem::{Category, Problem};
use super::url::ObjectLocation;
use super::{CachedImage, Failure, Snapshot, Source, State, now_rfc3339};
use crate::config::BackgroundConfig;
use crate::metrics::{FetchOutcome, Metrics};

const FROM_ENV: &str = "BACKGROUND_IMAGE_URL";
const FROM_FILE: &str = "BACKGROUND_IMAGE_URL_FILE";

/// The configured URL and where it came from; `url: None` means no image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    url: Option<String>,
    from: &'static str,
}

/// Why an object is being fetched: a refresh keeps the image it had when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    NewSource,
    Refresh,
}

struct Worker {
    config: BackgroundConfig,
    sender: watch::Sender<Snapshot>,
    fetcher: S3Fetcher,
    cache: Cache,
    applied: Option<Wanted>,
    /// The last error reading the URL file, so that it is logged once.
    file_error: Option<io::ErrorKind>,
    metrics: Metrics,
}

pub(super) async fn run(
    config: BackgroundConfig,
    sender: watch::Sender<Snapshot>,
    metrics: Metrics,
) {
    let mut worker = Worker {
        metrics,
        fetcher: S3Fetcher::new(&config),
        cache: Cache::new(&config.cache_dir),
        sender,
        applied: None,
        file_error: None,
        config,
    };
    let wanted = worker.read_wanted().await;
    worker.apply(wanted).await;

    let mut poll = worker
        .config
        .url_file
        .as_ref()
        .map(|_| every(worker.config.url_file_poll));
    let mut refresh = worker.config.refresh.map(every);
    loop {
        let due = tokio::select! {
            () = worker.sender.closed() => return,
            () = tick(&mut poll) => Due::UrlFile,
            () = tick(&mut refresh) => Due::Refresh,
        };
        match due {
            Due::UrlFile => {
                let wanted = worker.read_wanted().await;
                worker.apply(wanted).await;
            }
            Due::Refresh => worker.refresh().await,
        }
    }
}

enum Due {
    UrlFile,
    Refresh,
}

fn every(period: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Worker {
    /// Changes the snapshot, and keeps the state gauge in step with it.
    fn publish(&self, change: impl FnOnce(&mut Snapshot)) {
        self.sender.send_modify(change);
        let state = self.sender.borrow().state;
        self.metrics.background_state(state.name(), &State::NAMES);
    }

    /// The URL file wins when it can be read (an empty file means no image); otherwise
    /// `BACKGROUND_IMAGE_URL`. The path is opened afresh each time: Kubernetes updates
    /// a mounted ConfigMap by swapping a symlink, not by rewriting the file.
    async fn read_wanted(&mut self) -> Wanted {
        if let Some(path) = &self.config.url_file {
            match tokio::fs::read_to_string(path).await {
                Ok(text) => {
                    if self.file_error.take().is_some() {
                        tracing::info!(path = %path.display(), "{FROM_FILE} is readable again");
                    }
                    let url = text.trim();
                    return Wanted {
                        url: (!url.is_empty()).then(|| url.to_owned()),
                        from: FROM_FILE,
                    };
                }
                Err(e) => {
                    if self.file_error != Some(e.kind()) {
                        tracing::warn!(
                            path = %path.display(),
                            error = %e,
                            "cannot read {FROM_FILE}; using {FROM_ENV} meanwhile"
                        );
                        self.file_error = Some(e.kind());
                    }
                }
            }
        }
        Wanted {
            url: self.config.url.clone(),
            from: FROM_ENV,
        }
    }

    async fn apply(&mut self, wanted: Wanted) {
        if self.applied.as_ref() == Some(&wanted) {
            return;
        }
        self.applied = Some(wanted.clone());
        let Some(url) = wanted.url else {
            tracing::info!(
                from = wanted.from,
                "no background image configured: pages use the colour"
            );
            self.publish(|s| {
                s.state = State::None;
                s.source = None;
                s.last_error = None;
                if let Some(image) = s.image.take() {
                    s.previous = Some(image);
                }
            });
            self.prune().await;
            return;
        };
        tracing::info!(%url, from = wanted.from, "background image URL");
        match url.parse::<ObjectLocation>() {
            Err(e) => {
                self.publish(|s| {
                    s.source = Some(Source {
                        url,
                        from: wanted.from,
                        location: None,
                    });
                });
                self.fail(
                    Problem::new(Category::InvalidUrl, e.to_string()),
                    Reason::NewSource,
                )
                .await;
            }
            Ok(location) => {
                self.publish(|s| {
                    s.state = State::Fetching;
                    s.source = Some(Source {
                        url,
                        from: wanted.from,
                        location: Some(location.clone()),
                    });
                });
                // The same object under another spelling of its URL need not be fetched
                // again if it did not change.
                let etag = self.etag_of_shown(&location);
                self.update(&location, etag, Reason::NewSource).await;
            }
        }
    }

    async fn refresh(&mut self) {
        let location = self
            .sender
            .borrow()
            .source
            .as_ref()
            .and_then(|source| source.location.clone());
        if let Some(location) = location {
            let etag = self.etag_of_shown(&location);
            self.update(&location, etag, Reason::Refresh).await;
        }
    }

    /// The ETag of the shown image when it is `location`'s.
    fn etag_of_shown(&self, location: &ObjectLocation) -> Option<String> {
        let snapshot = self.sender.borrow();
        let image = snapshot.image.as_ref()?;
        (image.bucket == location.bucket && image.key == location.key)
            .then(|| image.etag.clone())
            .flatten()
    }

    async fn update(&mut self, location: &ObjectLocation, etag: Option<String>, reason: Reason) {
        let fetched = self.fetcher.fetch(location, etag.as_deref()).await;
        let checked_at = now_rfc3339();
        self.publish(|s| s.last_checked_at = Some(checked_at.clone()));
        let object = match fetched {
            Ok(Fetched::Object(object)) => object,
            Ok(Fetched::NotModified) => {
                self.metrics.background_fetch(FetchOutcome::NotModified, 0);
                tracing::debug!(%location, "background image unchanged");
                let was = self.sender.borrow().state;
                self.publish(|s| {
                    s.state = State::Ready;
                    s.last_error = None;
                });
                if was != State::Ready {
                    self.log_ready();
                }
                return;
            }
            Err(problem) => {
                self.metrics.background_fetch(FetchOutcome::Failed, 0);
                return self.fail(problem, reason).await;
            }
        };
        let bytes = object.bytes.len() as u64;
        match self.store(location, object, checked_at).await {
            Ok(image) => {
                self.metrics
                    .background_fetch(FetchOutcome::Downloaded, bytes);
                self.show(image).await
            }
            Err(problem) => {
                self.metrics.background_fetch(FetchOutcome::Failed, bytes);
                self.fail(problem, reason).await
            }
        }
    }

    /// Checks the bytes and writes them to the cache.
    async fn store(
        &self,
        location: &ObjectLocation,
        object: Object,
        fetched_at: String,
    ) -> Result<CachedImage, Problem> {
        let Some(format) = ImageFormat::detect(&object.bytes) else {
            let declared = object.declared_type.as_deref().unwrap_or("no type");
            return Err(Problem::new(
                Category::NotAnImage,
                format!(
                    "{location} ({declared}, {} bytes) is not a {} image: upload an image there",
                    object.bytes.len(),
                    format::SUPPORTED
                ),
            ));
        };
        let stored = self
            .cache
            .store(&object.bytes, format)
            .await
            .map_err(|e| cache_problem(self.cache.dir(), &e))?;
        Ok(CachedImage {
            path: Arc::from(format!("/background/{}", stored.name)),
            file_name: stored.name,
            file: stored.path,
            content_type: format.content_type(),
            size: object.bytes.len() as u64,
            sha256: stored.sha256,
            bucket: location.bucket.clone(),
            key: location.key.clone(),
            etag: object.etag,
            last_modified: object.last_modified,
            fetched_at,
        })
    }

    /// Switches pages to `image` and removes the files no page needs.
    async fn show(&mut self, image: CachedImage) {
        let image = Arc::new(image);
        let mut changed = false;
        let mut was_ready = false;
        self.publish(|s| {
            was_ready = s.state == State::Ready;
            changed = s
                .image
                .as_ref()
                .is_none_or(|shown| shown.file_name != image.file_name);
            if changed && let Some(shown) = s.image.take() {
                s.previous = Some(shown);
            }
            s.image = Some(image.clone());
            s.state = State::Ready;
            s.last_error = None;
        });
        if changed || !was_ready {
            self.log_ready();
        }
        self.prune().await;
    }

    /// Deletes the cached files other than the shown image's and the previous one's.
    async fn prune(&self) {
        let keep: Vec<String> = {
            let s = self.sender.borrow();
            [&s.image, &s.previous]
                .into_iter()
                .flatten()
                .map(|image| image.file_name.clone())
                .collect()
        };
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        self.cache.retain(&keep).await;
    }

    fn log_ready(&self) {
        let snapshot = self.sender.borrow();
        if let Some(image) = &snapshot.image {
            tracing::info!(
                bucket = %image.bucket,
                key = %image.key,
                path = %image.path,
                content_type = image.content_type,
                size = image.size,
                etag = image.etag.as_deref(),
                "background image ready"
            );
        }
    }

    /// Records a failure. A refresh that fails keeps the image of the same object; a new
    /// source that fails leaves the pages with the colour.
    async fn fail(&mut self, problem: Problem, reason: Reason) {
        let at = now_rfc3339();
        let mut repeated = false;
        let mut kept: Option<String> = None;
        self.publish(|s| {
            repeated = reason == Reason::Refresh
                && s.last_error
                    .as_ref()
                    .is_some_and(|last| last.problem.category == problem.category);
            let keep = reason == Reason::Refresh && s.state == State::Ready;
            if keep {
                kept = s.image.as_ref().map(|image| image.fetched_at.clone());
            } else {
                s.state = State::Failed;
                if let Some(image) = s.image.take() {
                    s.previous = Some(image);
                }
            }
            s.last_error = Some(Failure {
                problem: problem.clone(),
                at,
            });
        });
        let detail = problem.detail.as_deref();
        match kept {
            _ if repeated => {
                tracing::debug!(detail, "background image still failing: {problem}")
            }
            Some(fetched_at) => tracing::warn!(
                detail,
                "background image refresh failed: {problem}; still showing the image fetched at {fetched_at}"
            ),
            None => {
                tracing::error!(detail, "background image failed: {problem}");
                self.prune().await;
            }
        }
    }
}

fn cache_problem(dir: &Path, error: &io::Error) -> Problem {
    Problem::new(
        Category::CacheNotWritable,
        format!(
            "cannot write to BACKGROUND_CACHE_DIR={}: mount a writable volume there (an emptyDir \
             when the root filesystem is read-only)",
            dir.display()
        ),
    )
    .with_detail(error.to_string())
}
