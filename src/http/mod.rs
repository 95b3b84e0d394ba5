//! The HTTP side: the shared state, the routes, the one error type, the pages and the
//! layers around them. Depends on the domain modules (employee, db, background), never
//! the other way round.

mod audit;
mod cross_site;
mod error;
mod extract;
pub mod layers;
mod routes;
mod state;
pub mod views;

use axum::Router;

pub use self::error::AppError;
pub use self::routes::{BODY_LIMIT_BYTES, REQUEST_TIMEOUT};
pub use self::state::AppState;

/// The whole HTTP application: pages and probes behind the shared layers.
pub fn app(state: AppState) -> Router {
    let lifecycle = state.lifecycle.clone();
    let metrics = state.metrics.clone();
    let routes = Router::new()
        .merge(routes::probes())
        .merge(routes::pages(state.clone()))
        .route_layer(axum::middleware::from_fn(layers::tag_route))
        .with_state(state);
    layers::around(routes, lifecycle, metrics)
}
