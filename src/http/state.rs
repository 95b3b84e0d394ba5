//! What every handler shares: the configuration, the database, the background and the
//! metrics.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::background::Background;
use crate::config::Config;
use crate::db::Db;
use crate::http::views::Layout;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub background: Background,
    pub lifecycle: Lifecycle,
    pub metrics: Metrics,
}

impl AppState {
    /// What every page shows around its content.
    pub fn layout(&self) -> Layout<'_> {
        Layout {
            group_name: &self.config.group_name,
            group_slogan: &self.config.group_slogan,
            colour: self.config.colour,
            background: self.background.current_path(),
        }
    }
}

/// The background's routes take only the background, not the whole state.
impl FromRef<AppState> for Background {
    fn from_ref(state: &AppState) -> Background {
        state.background.clone()
    }
}
