//! HTTP: the cached images under their content-hashed paths, and `GET /background`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use axum::extract::FromRef;

use super::{Background, Snapshot};

/// A path names one content, so browsers may keep it for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// An SVG opened directly (not through `<img>`) is a document that could run scripts:
/// allow it nothing but its own styles.
const SVG_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Routes that serve cached images, in any router whose state holds the background.
pub fn image_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Background: FromRef<S>,
{
    Router::new().route("/background/{file}", get(image))
}

/// `GET /background/<sha256-prefix>.<extension>`: the shown image or the one before it;
/// any other name is not found.
async fn image(
    State(background): State<Background>,
    Path(file): Path<String>,
    request: Request,
) -> Response {
    let found = {
        let snapshot = background.snapshot();
        [&snapshot.image, &snapshot.previous]
            .into_iter()
            .flatten()
            .find(|image| image.file_name == file)
            .cloned()
    };
    let Some(image) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = match ServeFile::new(&image.file).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(image.content_type),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if image.content_type == "image/svg+xml" {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(SVG_POLICY),
            );
        }
    }
    response
}

/// `GET /background`: which object is configured, which image is shown and since when,
/// and the latest failure, for operators.
pub async fn status(State(background): State<Background>) -> Json<Snapshot> {
    Json(background.snapshot().clone())
}
