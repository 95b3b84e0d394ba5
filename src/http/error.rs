//! The one error type of the HTTP layer, and the middleware that renders every error
//! response as a page in the site's layout.
//!
//! Handlers return `AppError`; its `IntoResponse` only records the error in the response
//! extensions. `render_errors` then renders it with the layout (which needs the app state)
//! and the request id (which needs the request), and also gives the responses that axum
//! and tower-http produce on their own (404, 405, 413, panics) the same kind of page.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::db::{DbError, Stored};
use crate::employee::{EmpId, EmployeeForm, Field, FieldErrors, Version};
use crate::http::layers::request_id;
use crate::http::routes::BODY_LIMIT_BYTES;
use crate::http::state::AppState;
use crate::http::views::{
    self, AddEmployeePage, ConflictPage, EditPage, ErrorPage, Layout, LookupPage,
};
use crate::paging::InvalidPageNumber;
use crate::search::InvalidSearch;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid employee form: {errors:?}")]
    InvalidEmployee {
        form: EmployeeForm,
        errors: FieldErrors,
    },
    #[error("{}", id_taken(*.emp_id))]
    IdTaken { form: EmployeeForm, emp_id: EmpId },
    #[error("invalid edit of employee {emp_id}: {errors:?}")]
    InvalidEdit {
        emp_id: EmpId,
        version: Version,
        form: EmployeeForm,
        errors: FieldErrors,
    },
    /// An edit form loaded from a version that someone else has replaced since.
    #[error(
        "edit of employee {} refused: loaded from an older version than {}",
        .stored.employee.emp_id(),
        .stored.version
    )]
    EditConflict {
        form: EmployeeForm,
        stored: Box<Stored>,
    },
    #[error("invalid employee ID: {message}")]
    InvalidLookup { emp_id: String, message: String },
    #[error("employee {0} not found")]
    EmployeeNotFound(EmpId),
    /// A delete of an ID that has no employee (perhaps deleted a moment ago).
    #[error("no employee {0} to delete")]
    NothingToDelete(EmpId),
    /// A path under `/employees/` that cannot name an employee.
    #[error("no employee at this address")]
    NoEmployeeAddress,
    #[error(transparent)]
    InvalidPageNumber(#[from] InvalidPageNumber),
    #[error(transparent)]
    InvalidSearch(#[from] InvalidSearch),
    #[error("the form could not be read: {0}")]
    UnreadableForm(String),
    #[error("form larger than the limit")]
    FormTooLarge,
    #[error("form not URL-encoded")]
    UnsupportedFormEncoding,
    /// A browser sent a state-changing request from another site (the reason says
    /// which header showed it).
    #[error("cross-site request refused: {0}")]
    CrossSiteRequest(&'static str),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// The one sentence for a taken ID, on the page, next to the field and in logs.
fn id_taken(emp_id: EmpId) -> String {
    format!("An employee with ID {emp_id} already exists.")
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidEmployee { .. }
            | AppError::InvalidEdit { .. }
            | AppError::InvalidLookup { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::IdTaken { .. } | AppError::EditConflict { .. } => StatusCode::CONFLICT,
            AppError::EmployeeNotFound(_)
            | AppError::NothingToDelete(_)
            | AppError::NoEmployeeAddress => StatusCode::NOT_FOUND,
            AppError::InvalidPageNumber(_)
            | AppError::InvalidSearch(_)
            | AppError::UnreadableForm(_) => StatusCode::BAD_REQUEST,
            AppError::FormTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedFormEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::CrossSiteRequest(_) => StatusCode::FORBIDDEN,
            AppError::Database(DbError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(DbError::Other(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn render(&self, layout: Layout<'_>, request_id: Option<&str>) -> Response {
        let status = self.status();
        match self {
            AppError::InvalidEmployee { form, errors } => views::render(
                status,
                &AddEmployeePage::new(layout, form, errors, Some(not_saved(errors))),
            ),
            AppError::InvalidEdit {
                emp_id,
                version,
                form,
                errors,
            } => views::render(
                status,
                &EditPage::new(
                    layout,
                    *emp_id,
                    *version,
                    form,
                    errors,
                    Some(not_saved(errors)),
                ),
            ),
            AppError::EditConflict { form, stored } => {
                views::render(status, &ConflictPage::new(layout, form, stored))
            }
            AppError::IdTaken { form, emp_id } => {
                let errors = FieldErrors::one(Field::EmpId, id_taken(*emp_id));
                let problem = format!(
                    "The employee was not saved. {} Choose another ID.",
                    id_taken(*emp_id)
                );
                views::render(
                    status,
                    &AddEmployeePage::new(layout, form, &errors, Some(problem)),
                )
            }
            AppError::InvalidLookup { emp_id, message } => views::render(
                status,
                &LookupPage {
                    layout,
                    emp_id,
                    problem: Some(message),
                },
            ),
            AppError::EmployeeNotFound(emp_id) => notice(
                status,
                layout,
                "Employee Not Found",
                &format!("There is no employee with ID {emp_id}."),
            ),
            AppError::NothingToDelete(emp_id) => notice(
                status,
                layout,
                "Employee Not Found",
                &format!(
                    "There is no employee with ID {emp_id}, so nothing was deleted. If it was \
                     deleted a moment ago (a second click, or someone else), that delete worked."
                ),
            ),
            AppError::NoEmployeeAddress => notice(
                status,
                layout,
                "Employee Not Found",
                "There is no employee at this address.",
            ),
            AppError::InvalidPageNumber(err) => {
                notice(status, layout, "Invalid page number", &err.to_string())
            }
            AppError::InvalidSearch(err) => {
                notice(status, layout, "Invalid search", &err.to_string())
            }
            AppError::UnreadableForm(_) => notice(
                status,
                layout,
                "The form could not be read",
                "The form must be URL-encoded UTF-8 text with the page's field names.",
            ),
            AppError::FormTooLarge => notice(status, layout, "Form too large", &too_large()),
            AppError::CrossSiteRequest(_) => notice(
                status,
                layout,
                "Request refused",
                "This form was sent from another site, so nothing was changed (cross-site \
                 request protection). Open this site's own page and submit the form there.",
            ),
            AppError::UnsupportedFormEncoding => notice(
                status,
                layout,
                "Unsupported form encoding",
                "Send the form as application/x-www-form-urlencoded, as the pages' own forms do.",
            ),
            AppError::Database(DbError::Unavailable(_)) => notice(
                status,
                layout,
                "Database unavailable",
                "The database cannot be reached right now, so nothing was read or saved. \
                 Please try again in a moment.",
            ),
            AppError::Database(DbError::Other(_)) => internal_error_page(layout, request_id),
        }
    }
}

/// The message above a form whose fields need correcting.
fn not_saved(errors: &FieldErrors) -> String {
    format!(
        "The employee was not saved: please correct the {} below.",
        if errors.len() == 1 {
            "field".to_owned()
        } else {
            format!("{} fields", errors.len())
        }
    )
}

/// A page that explains a refused request.
fn notice(status: StatusCode, layout: Layout<'_>, title: &str, message: &str) -> Response {
    message_page(status, layout, title, message, None)
}

fn message_page(
    status: StatusCode,
    layout: Layout<'_>,
    title: &str,
    message: &str,
    request_id: Option<&str>,
) -> Response {
    views::render(
        status,
        &ErrorPage {
            layout,
            title,
            message,
            request_id,
        },
    )
}

fn internal_error_page(layout: Layout<'_>, request_id: Option<&str>) -> Response {
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        layout,
        "Something went wrong",
        "The server could not complete this request. It has been logged.",
        request_id,
    )
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

impl From<FormRejection> for AppError {
    fn from(rejection: FormRejection) -> Self {
        match &rejection {
            FormRejection::InvalidFormContentType(_) => AppError::UnsupportedFormEncoding,
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::FormTooLarge,
            _ => AppError::UnreadableForm(rejection.body_text()),
        }
    }
}

fn too_large() -> String {
    format!(
        "The form is larger than {} KiB, more than any employee needs.",
        BODY_LIMIT_BYTES / 1024
    )
}

/// Renders `AppError`s and bare error statuses as pages in the layout.
pub async fn render_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = request_id(&request).map(str::to_owned);
    let method = request.method().clone();
    let mut response = next.run(request).await;

    if let Some(error) = response.extensions_mut().remove::<Arc<AppError>>() {
        match error.status() {
            s if s.is_server_error() && s != StatusCode::SERVICE_UNAVAILABLE => {
                tracing::error!(request_id = request_id.as_deref(), error = ?error, "request failed");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(request_id = request_id.as_deref(), error = %error, "database unavailable");
            }
            _ => tracing::debug!(error = %error, "request rejected"),
        }
        return with_retry_after(error.render(state.layout(), request_id.as_deref()));
    }

    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_html {
        return response;
    }

    let layout = state.layout();
    let mut page = match status {
        StatusCode::NOT_FOUND => message_page(
            status,
            layout,
            "Page not found",
            "There is no page at this address.",
            None,
        ),
        StatusCode::METHOD_NOT_ALLOWED => message_page(
            status,
            layout,
            "Method not allowed",
            &format!(
                "This page does not accept {method} requests. Use the links and forms on the site."
            ),
            None,
        ),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::FormTooLarge.render(layout, None),
        s if s.is_server_error() => {
            tracing::error!(
                request_id = request_id.as_deref(),
                status = s.as_u16(),
                "request failed"
            );
            internal_error_page(layout, request_id.as_deref())
        }
        s => message_page(
            s,
            layout,
            s.canonical_reason().unwrap_or("Request not accepted"),
            "The request was not accepted.",
            None,
        ),
    };
    // Keep headers that tell the client what to do next (for example `Allow` on a 405).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            page.headers_mut().insert(name, value.clone());
        }
    }
    with_retry_after(page)
}

/// A 503 tells clients (and browsers' users) when trying again makes sense.
fn with_retry_after(mut page: Response) -> Response {
    if page.status() == StatusCode::SERVICE_UNAVAILABLE {
        page.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    page
}
