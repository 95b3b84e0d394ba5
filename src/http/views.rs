//! The pages: one askama template struct per page, all extending `templates/base.html`.
//! askama escapes every value in `.html` templates, so user input cannot become markup.

use std::sync::Arc;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::config::Colour;
use crate::employee::{Employee, EmployeeForm, Field, FieldErrors};
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
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
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

/// One input of the employee form.
pub struct FieldView<'a> {
    pub field: Field,
    pub value: &'a str,
    pub error: Option<&'a str>,
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
        let fields = Field::ALL
            .into_iter()
            .map(|field| FieldView {
                field,
                value: form.value(field),
                error: errors.get(field),
            })
            .collect();
        AddEmployeePage {
            layout,
            fields,
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

#[derive(Template)]
#[template(path = "employee.html")]
pub struct EmployeePage<'a> {
    pub layout: Layout<'a>,
    pub title: String,
    /// Every field with its value, in form order.
    pub details: Vec<(Field, String)>,
}

impl<'a> EmployeePage<'a> {
    pub fn new(layout: Layout<'a>, employee: &Employee) -> Self {
        EmployeePage {
            layout,
            title: employee.full_name(),
            details: Field::ALL
                .into_iter()
                .map(|field| (field, employee.value(field)))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "employees.html")]
pub struct EmployeesPage<'a> {
    pub layout: Layout<'a>,
    pub page: Page<Employee>,
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
