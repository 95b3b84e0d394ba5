//! Where each page is served: the original app's paths, methods and form fields, plus
//! the employee list and search, editing and deleting, the health probes and the
//! static files.
//!
//! Handlers parse, make one call, and render; rules live in `employee`, storage in `db`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
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
use crate::db::{DbError, Inserted, Updated};
use crate::employee::{EditForm, EmpId, EmployeeForm, Field, FieldErrors, Version};
use crate::http::audit::{self, Change};
use crate::http::cross_site::refuse_cross_site_writes;
use crate::http::error::{AppError, render_errors};
use crate::http::extract::{EmployeeAddress, Form};
use crate::http::layers;
use crate::http::state::AppState;
use crate::http::views::{
    AboutPage, AddEmployeePage, AddedPage, DeletePage, DeletedPage, EditPage, EmployeePage,
    EmployeesPage, LookupPage, SavedPage, render, render_sized,
};
use crate::paging::PageNumber;
use crate::search::SearchText;

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
        .route("/employees/{emp_id}/edit", get(edit_form).post(save_edit))
        .route(
            "/employees/{emp_id}/delete",
            get(confirm_delete).post(delete_employee),
        )
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
    audit::record(Change::Added, employee.emp_id(), &Field::ALL);
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
    EmployeeAddress(emp_id): EmployeeAddress,
) -> Result<Response, AppError> {
    employee_page(&state, emp_id).await
}

async fn edit_form(
    State(state): State<AppState>,
    EmployeeAddress(emp_id): EmployeeAddress,
) -> Result<Response, AppError> {
    let stored = state
        .db
        .get_stored(emp_id)
        .await?
        .ok_or(AppError::EmployeeNotFound(emp_id))?;
    let form = EmployeeForm::from_employee(&stored.employee);
    Ok(render(
        StatusCode::OK,
        &EditPage::new(
            state.layout(),
            emp_id,
            stored.version,
            &form,
            &FieldErrors::none(),
            None,
        ),
    ))
}

async fn save_edit(
    State(state): State<AppState>,
    EmployeeAddress(emp_id): EmployeeAddress,
    Form(edit): Form<EditForm>,
) -> Result<Response, AppError> {
    let version =
        Version::parse(&edit.version).map_err(|err| AppError::UnreadableForm(err.to_string()))?;
    let form = edit.employee.with_emp_id(emp_id);
    let employee = match form.validate() {
        Ok(employee) => employee,
        Err(errors) => {
            return Err(AppError::InvalidEdit {
                emp_id,
                version,
                form,
                errors,
            });
        }
    };
    let changed = match state.db.update(version, &employee).await? {
        Updated::Saved { changed } => changed,
        Updated::Stale(stored) => {
            return Err(AppError::EditConflict {
                form,
                stored: Box::new(stored),
            });
        }
        Updated::NotFound => return Err(AppError::EmployeeNotFound(emp_id)),
    };
    if !changed.is_empty() {
        audit::record(Change::Updated, emp_id, &changed);
    }
    Ok(render(
        StatusCode::OK,
        &SavedPage {
            layout: state.layout(),
            employee,
            changed,
        },
    ))
}

async fn confirm_delete(
    State(state): State<AppState>,
    EmployeeAddress(emp_id): EmployeeAddress,
) -> Result<Response, AppError> {
    let employee = state
        .db
        .get(emp_id)
        .await?
        .ok_or(AppError::EmployeeNotFound(emp_id))?;
    Ok(render(
        StatusCode::OK,
        &DeletePage::new(state.layout(), &employee),
    ))
}

/// Deleting needs no form fields: the address names the employee, and the
/// cross-site layer has already refused a form posted from another site.
async fn delete_employee(
    State(state): State<AppState>,
    EmployeeAddress(emp_id): EmployeeAddress,
) -> Result<Response, AppError> {
    let employee = state
        .db
        .delete(emp_id)
        .await?
        .ok_or(AppError::NothingToDelete(emp_id))?;
    audit::record(Change::Deleted, emp_id, &Field::ALL);
    Ok(render(
        StatusCode::OK,
        &DeletedPage {
            layout: state.layout(),
            employee,
        },
    ))
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
struct ListQuery {
    page: Option<String>,
    /// The search box.
    q: Option<String>,
}

/// The whole list, or with `q` the employees it matches (see `crate::search`).
async fn list_employees(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let number = PageNumber::parse(query.page.as_deref())?;
    let search = SearchText::parse(query.q.as_deref())?;
    let page = match &search {
        Some(text) => Arc::new(state.db.search(text, number).await?),
        None => state.db.page(number).await?,
    };
    let view = EmployeesPage::new(
        state.layout(),
        &page,
        search.as_ref().map(SearchText::as_str),
    );
    Ok(render_sized(StatusCode::OK, &view, view.expected_size()))
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
