//! Request extractors whose rejections are pages that say what is wrong.

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::employee::EmpId;
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

/// The employee ID in an `/employees/{emp_id}…` address. One that cannot name an
/// employee is simply not found, as any other unknown path would be.
pub struct EmployeeAddress(pub EmpId);

impl<S> FromRequestParts<S> for EmployeeAddress
where
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NoEmployeeAddress)?;
        EmpId::parse(&raw)
            .map(EmployeeAddress)
            .map_err(|_| AppError::NoEmployeeAddress)
    }
}
