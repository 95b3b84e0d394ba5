//! Request extractors whose rejections are pages that say what is wrong.

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::http::error::AppError;

/// axum's `Form`, with a rejection (wrong encoding, too large, unreadable) turned into an
/// `AppError` page instead of a bare status.
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let axum::Form(value) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(|rejection: FormRejection| AppError::from(rejection))?;
        Ok(Form(value))
    }
}
