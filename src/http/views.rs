//! The pages: one askama template struct per page, all extending `templates/base.html`.
//! askama escapes every value in `.html` templates, so user input cannot become markup.

use std::sync::Arc;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::config::Colour;
use crate::db::Stored;
use crate::employee::{EmpId, Employee, EmployeeForm, Field, FieldErrors, Version};
use crate::paging::Page;

/// What every page shows around its content: the group, the slogan and the background.
pub struct Layout<'a> {
    pub group_name: &'a str,
    pub group_slogan: &'a str,
    pub colour: Colour,
    /// Public path of the cached background image, when one is ready.
    pub background: Option<Arc<str>>,
}

/// Renders a page with a status. A template that fails to render is a bug in this
/// program, so it is logged and answered with a plain 500.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    render_sized(status, page, T::SIZE_HINT)
}

/// `render` into a buffer of `capacity` bytes, for a page whose loop makes askama's own
/// hint (which counts a loop's body once) far too small: the buffer is then written
/// once instead of regrown and copied several times.
pub fn render_sized(status: StatusCode, page: &impl Template, capacity: usize) -> Response {
    let mut body = String::with_capacity(capacity);
    match page.render_into(&mut body) {
        Ok(()) => (status, Html(body)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Internal error while rendering the page.",
            )
                .into_response()
        }
    }
}

/// One input of the employee form (templates/employee_fields.html).
pub struct FieldView<'a> {
    pub field: Field,
    pub value: &'a str,
    pub error: Option<&'a str>,
    /// Shown but not editable: the ID on the edit form.
    pub read_only: bool,
}

/// The form's inputs, refilled with what the user typed and a message per bad field.
fn field_views<'a>(
    form: &'a EmployeeForm,
    errors: &'a FieldErrors,
    id_read_only: bool,
) -> Vec<FieldView<'a>> {
    Field::ALL
        .into_iter()
        .map(|field| FieldView {
            field,
            value: form.value(field),
            error: errors.get(field),
            read_only: id_read_only && field == Field::EmpId,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "addemp.html")]
pub struct AddEmployeePage<'a> {
    pub layout: Layout<'a>,
    pub fields: Vec<FieldView<'a>>,
    pub problem: Option<String>,
}

impl<'a> AddEmployeePage<'a> {
    /// The add form, refilled with what the user typed and a message per bad field.
    pub fn new(
        layout: Layout<'a>,
        form: &'a EmployeeForm,
        errors: &'a FieldErrors,
        problem: Option<String>,
    ) -> Self {
        AddEmployeePage {
            layout,
            fields: field_views(form, errors, false),
            problem,
        }
    }
}

#[derive(Template)]
#[template(path = "added.html")]
pub struct AddedPage<'a> {
    pub layout: Layout<'a>,
    pub employee: Employee,
}

#[derive(Template)]
#[template(path = "getemp.html")]
pub struct LookupPage<'a> {
    pub layout: Layout<'a>,
    pub emp_id: &'a str,
    pub problem: Option<&'a str>,
}

/// Every field of an employee with its value, in form order.
fn details(employee: &Employee) -> Vec<(Field, String)> {
    Field::ALL
        .into_iter()
        .map(|field| (field, employee.value(field).into_owned()))
        .collect()
}

#[derive(Template)]
#[template(path = "employee.html")]
pub struct EmployeePage<'a> {
    pub layout: Layout<'a>,
    pub emp_id: EmpId,
    pub title: String,
    pub details: Vec<(Field, String)>,
}

impl<'a> EmployeePage<'a> {
    pub fn new(layout: Layout<'a>, employee: &Employee) -> Self {
        EmployeePage {
            layout,
            emp_id: employee.emp_id(),
            title: employee.full_name().to_string(),
            details: details(employee),
        }
    }
}

/// The edit form: the stored values (or what was typed, with a message per bad field),
/// the ID read-only, and the version the form was loaded from.
#[derive(Template)]
#[template(path = "edit.html")]
pub struct EditPage<'a> {
    pub layout: Layout<'a>,
    pub emp_id: EmpId,
    pub version: Version,
    pub fields: Vec<FieldView<'a>>,
    pub problem: Option<String>,
}

impl<'a> EditPage<'a> {
    pub fn new(
        layout: Layout<'a>,
        emp_id: EmpId,
        version: Version,
        form: &'a EmployeeForm,
        errors: &'a FieldErrors,
        problem: Option<String>,
    ) -> Self {
        EditPage {
            layout,
            emp_id,
            version,
            fields: field_views(form, errors, true),
            problem,
        }
    }
}

/// One row of the comparison on the conflict page.
pub struct Difference {
    pub field: Field,
    pub yours: String,
    pub stored: String,
}

impl Difference {
    pub fn differs(&self) -> bool {
        self.yours != self.stored
    }
}

/// A save over a version someone else replaced: both versions side by side, and the
/// edit form again with the user's values and the stored version, so that saving it
/// once more (after a look at the other change) replaces what is stored now.
#[derive(Template)]
#[template(path = "conflict.html")]
pub struct ConflictPage<'a> {
    pub layout: Layout<'a>,
    pub emp_id: EmpId,
    /// The stored version, which the form now carries.
    pub version: Version,
    pub comparison: Vec<Difference>,
    pub fields: Vec<FieldView<'a>>,
}

impl<'a> ConflictPage<'a> {
    pub fn new(layout: Layout<'a>, yours: &'a EmployeeForm, stored: &Stored) -> Self {
        let comparison = Field::ALL
            .into_iter()
            .map(|field| Difference {
                field,
                yours: yours.value(field).trim().to_owned(),
                stored: stored.employee.value(field).into_owned(),
            })
            .collect();
        ConflictPage {
            layout,
            emp_id: stored.employee.emp_id(),
            version: stored.version,
            comparison,
            fields: field_views(yours, &NO_ERRORS, true),
        }
    }
}

static NO_ERRORS: FieldErrors = FieldErrors::none();

/// After a save: what changed (nothing, when the form was saved unchanged).
#[derive(Template)]
#[template(path = "saved.html")]
pub struct SavedPage<'a> {
    pub layout: Layout<'a>,
    pub employee: Employee,
    pub changed: Vec<Field>,
}

impl SavedPage<'_> {
    /// "First name, Location": the labels of the changed fields.
    pub fn changed_labels(&self) -> String {
        self.changed
            .iter()
            .map(|field| field.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// "Delete this employee?": the details, a delete button and a way back.
#[derive(Template)]
#[template(path = "delete.html")]
pub struct DeletePage<'a> {
    pub layout: Layout<'a>,
    pub emp_id: EmpId,
    pub name: String,
    pub details: Vec<(Field, String)>,
}

impl<'a> DeletePage<'a> {
    pub fn new(layout: Layout<'a>, employee: &Employee) -> Self {
        DeletePage {
            layout,
            emp_id: employee.emp_id(),
            name: employee.full_name().to_string(),
            details: details(employee),
        }
    }
}

#[derive(Template)]
#[template(path = "deleted.html")]
pub struct DeletedPage<'a> {
    pub layout: Layout<'a>,
    pub employee: Employee,
}

/// The employee list, or one page of a search's matches.
#[derive(Template)]
#[template(path = "employees.html")]
pub struct EmployeesPage<'a> {
    pub layout: Layout<'a>,
    pub page: &'a Page<Employee>,
    /// The search text as typed, kept in the box; `None` for the whole list.
    pub search: Option<&'a str>,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl<'a> EmployeesPage<'a> {
    pub fn new(layout: Layout<'a>, page: &'a Page<Employee>, search: Option<&'a str>) -> Self {
        let link = |number: i64| page_link(search, number);
        EmployeesPage {
            previous: page.has_previous().then(|| link(page.number - 1)),
            next: page.has_next().then(|| link(page.number + 1)),
            layout,
            page,
            search,
        }
    }
}

impl EmployeesPage<'_> {
    /// The page's HTML size: the template's own hint and a table row per employee.
    pub fn expected_size(&self) -> usize {
        // A row is about 150 bytes with short names; a wider one regrows the buffer once.
        const ROW_BYTES: usize = 192;
        Self::SIZE_HINT + ROW_BYTES * self.page.rows.len()
    }
}

/// `/employees?q=…&page=N`, the search text percent-encoded as a browser's form would.
fn page_link(search: Option<&str>, number: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(text) = search {
        query.append_pair("q", text);
    }
    query.append_pair("page", &number.to_string());
    format!("/employees?{}", query.finish())
}

#[derive(Template)]
#[template(path = "about.html")]
pub struct AboutPage<'a> {
    pub layout: Layout<'a>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub layout: Layout<'a>,
    pub title: &'a str,
    pub message: &'a str,
    pub request_id: Option<&'a str>,
}
