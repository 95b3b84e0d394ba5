//! Where each page is served: the original app's paths, methods and form fields, plus
//! the employee list, the health probes and the static files.
//!
//! Handlers parse, make one call, and render; rules live in `employee`, storage in `db`.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::db::{DbError, PAGE_SIZE};
use crate::employee::{EmployeeForm, FieldErrors, LookupForm, parse_emp_id};
use crate::error::{AppError, ValidForm, render_errors};
use crate::startup::AppState;
use crate::views::{
    AboutPage, AddEmployeePage, AddedPage, EmployeePage, EmployeesPage, LookupPage, render,
};

/// No employee form comes anywhere near this; larger bodies are refused unread.
pub const BODY_LIMIT_BYTES: usize = 16 * 1024;
/// A request that takes longer than this has a stuck dependency; answer rather than hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The pages, rendered in the layout, with errors as pages too.
pub fn pages(state: AppState) -> Router<AppState> {
    let static_files = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .service(ServeDir::new(&state.config.static_dir));

    Router::new()
        .route("/", get(add_form).post(add_form))
        .route("/addemp", axum::routing::post(add_employee))
        .route("/getemp", get(lookup_form).post(lookup_form_prefilled))
        .route("/fetchdata", axum::routing::post(fetch_employee))
        .route("/employees", get(list_employees))
        .route("/employees/{emp_id}", get(show_employee))
        .route("/about", get(about).post(about))
        .nest_service("/static", static_files)
        .merge(crate::background::image_routes())
        .fallback(not_found)
        // Innermost first; render_errors is outermost so that it also sees the
        // responses the other layers produce on their own (413, panics, timeouts).
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn_with_state(state, render_errors))
}

/// Probes and machine-readable endpoints: plain answers, no page layout.
pub fn probes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/background", get(crate::background::status))
}

async fn add_form(State(state): State<AppState>) -> Response {
    let form = EmployeeForm::default();
    let errors = FieldErrors::default();
    render(
        StatusCode::OK,
        &AddEmployeePage::new(state.layout(), &form, &errors, None),
    )
}

async fn add_employee(
    State(state): State<AppState>,
    ValidForm(form): ValidForm<EmployeeForm>,
) -> Result<Response, AppError> {
    let employee = match form.validate() {
        Ok(employee) => employee,
        Err(errors) => return Err(AppError::InvalidEmployee { form, errors }),
    };
    match state.db.insert(&employee).await {
        Ok(()) => {}
        Err(DbError::Duplicate(emp_id)) => {
            return Err(AppError::DuplicateEmployee { form, emp_id });
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(emp_id = employee.emp_id, "employee added");
    Ok(render(
        StatusCode::OK,
        &AddedPage {
            layout: state.layout(),
            employee,
        },
    ))
}

async fn lookup_form(State(state): State<AppState>) -> Response {
    render(
        StatusCode::OK,
        &LookupPage {
            layout: state.layout(),
            emp_id: "",
            problem: None,
        },
    )
}

/// The home form's "Get Employee" button posts the whole form here: keep its ID.
async fn lookup_form_prefilled(
    State(state): State<AppState>,
    ValidForm(form): ValidForm<LookupForm>,
) -> Response {
    render(
        StatusCode::OK,
        &LookupPage {
            layout: state.layout(),
            emp_id: form.emp_id.trim(),
            problem: None,
        },
    )
}

async fn fetch_employee(
    State(state): State<AppState>,
    ValidForm(form): ValidForm<LookupForm>,
) -> Result<Response, AppError> {
    let emp_id = parse_emp_id(&form.emp_id).map_err(|message| AppError::InvalidLookup {
        emp_id: form.emp_id.clone(),
        message,
    })?;
    employee_page(&state, emp_id).await
}

async fn show_employee(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    // An ID that cannot exist is simply not found, as any other unknown path would be.
    let emp_id = parse_emp_id(&raw).map_err(|_| AppError::BadRequest {
        status: StatusCode::NOT_FOUND,
        title: "Employee Not Found",
        message: "There is no employee at this address.".into(),
    })?;
    employee_page(&state, emp_id).await
}

async fn employee_page(state: &AppState, emp_id: i64) -> Result<Response, AppError> {
    let employee = state
        .db
        .get(emp_id)
        .await?
        .ok_or(AppError::EmployeeNotFound(emp_id))?;
    Ok(render(
        StatusCode::OK,
        &EmployeePage {
            layout: state.layout(),
            employee,
        },
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

async fn list_employees(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let raw = query.page.unwrap_or_default();
    let page = match raw.trim() {
        "" => 1,
        text => text
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=i64::MAX / PAGE_SIZE).contains(p))
            .ok_or_else(|| AppError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                title: "Invalid page number",
                message: "The page number must be a whole number of 1 or more.".into(),
            })?,
    };
    let (employees, total) = state.db.page(page).await?;
    let first_shown = (page - 1) * PAGE_SIZE + 1;
    let last_shown = first_shown + employees.len() as i64 - 1;
    Ok(render(
        StatusCode::OK,
        &EmployeesPage {
            layout: state.layout(),
            employees,
            page,
            last_page: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
            total,
            first_shown,
            last_shown,
        },
    ))
}

async fn about(State(state): State<AppState>) -> Response {
    render(
        StatusCode::OK,
        &AboutPage {
            layout: state.layout(),
        },
    )
}

async fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// Liveness: the process serves HTTP. Never touches the database, so a database outage
/// does not make Kubernetes restart healthy pods.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: a round trip to the database.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {err}\n"),
        )
            .into_response(),
    }
}
