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

use crate::background;
use crate::db::{DbError, Inserted};
use crate::employee::{EmpId, EmployeeForm, Field, FieldErrors};
use crate::http::cross_site::refuse_cross_site_writes;
use crate::http::error::{AppError, render_errors};
use crate::http::extract::Form;
use crate::http::layers;
use crate::http::state::AppState;
use crate::http::views::{
    AboutPage, AddEmployeePage, AddedPage, EmployeePage, EmployeesPage, LookupPage, render,
};
use crate::paging::PageNumber;

/// Where the static files are served, and the route template their requests are counted
/// under.
const STATIC_PREFIX: &str = "/static";
const STATIC_ROUTE: &str = "/static/{*path}";
/// No employee form comes anywhere near this; larger bodies are refused unread.
pub const BODY_LIMIT_BYTES: usize = 16 * 1024;
/// How long the readiness probe waits for the database before it answers anyway.
const READINESS_PING_TIMEOUT: Duration = Duration::from_millis(500);
/// A request that takes longer than this has a stuck dependency; answer rather than hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The pages, rendered in the layout, with errors as pages too.
pub fn pages(state: AppState) -> Router<AppState> {
    let static_files = ServiceBuilder::new()
        .layer(layers::nested_route(STATIC_ROUTE))
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
        .nest_service(STATIC_PREFIX, static_files)
        .merge(background::image_routes())
        .fallback(not_found)
        // Inside render_errors, so a refused request is a page in the layout.
        .layer(middleware::from_fn(refuse_cross_site_writes))
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
        .route("/background", get(background::status))
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
    Form(form): Form<EmployeeForm>,
) -> Result<Response, AppError> {
    let employee = match form.validate() {
        Ok(employee) => employee,
        Err(errors) => return Err(AppError::InvalidEmployee { form, errors }),
    };
    match state.db.insert(&employee).await? {
        Inserted::Added => {}
        Inserted::IdTaken => {
            let emp_id = employee.emp_id();
            return Err(AppError::IdTaken { form, emp_id });
        }
    }
    state.metrics.employee_added();
    tracing::info!(emp_id = employee.emp_id().get(), "employee added");
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
    Form(form): Form<EmployeeForm>,
) -> Response {
    render(
        StatusCode::OK,
        &LookupPage {
            layout: state.layout(),
            emp_id: form.value(Field::EmpId).trim(),
            problem: None,
        },
    )
}

async fn fetch_employee(
    State(state): State<AppState>,
    Form(form): Form<EmployeeForm>,
) -> Result<Response, AppError> {
    let raw = form.value(Field::EmpId);
    let emp_id = EmpId::parse(raw).map_err(|err| AppError::InvalidLookup {
        emp_id: raw.to_owned(),
        message: err.to_string(),
    })?;
    employee_page(&state, emp_id).await
}

async fn show_employee(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    // An ID that cannot exist is simply not found, as any other unknown path would be.
    let emp_id = EmpId::parse(&raw).map_err(|_| AppError::NoEmployeeAddress)?;
    employee_page(&state, emp_id).await
}

async fn employee_page(state: &AppState, emp_id: EmpId) -> Result<Response, AppError> {
    let found = state.db.get(emp_id).await?;
    state.metrics.employee_lookup(found.is_some());
    let employee = found.ok_or(AppError::EmployeeNotFound(emp_id))?;
    Ok(render(
        StatusCode::OK,
        &EmployeePage::new(state.layout(), &employee),
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
    let number = PageNumber::parse(query.page.as_deref())?;
    let page = state.db.page(number).await?;
    Ok(render(
        StatusCode::OK,
        &EmployeesPage {
            layout: state.layout(),
            page,
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

/// Readiness: whether load balancers should send requests here. Not while shutting
/// down (so they stop before the server stops accepting), nor before the schema is in
/// place. A database outage after that does not make the instance unready: every replica
/// shares the database, so failing them all would turn the outage into a load-balancer
/// outage (connection errors, or the balancer's bare 503) instead of the app's own 503
/// page with `Retry-After`, and pages that need no data would stop working too.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.is_stopping() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n",
        )
            .into_response();
    }
    // Probes time out (Kubernetes: 1 s by default): answer within that even while the
    // pool waits for a database that does not answer.
    let ping = tokio::time::timeout(READINESS_PING_TIMEOUT, state.db.ping())
        .await
        .unwrap_or_else(|_| {
            Err(DbError::Unavailable(format!(
                "no answer within {} ms",
                READINESS_PING_TIMEOUT.as_millis()
            )))
        });
    match ping {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(err) if state.db.schema_is_ready() => (
            StatusCode::OK,
            format!("ready; pages that need data answer 503 meanwhile: {err}\n"),
        )
            .into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {err}\n"),
        )
            .into_response(),
    }
}
