//! Adding, looking up and listing employees, and every validation rule.

use crate::on_both_backends;
use crate::support::{Backend, spawn_app};

async fn add_then_fetch(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_employee("42", " Ada ", "Lovelace", "Analytical engines", "London")
        .await
        .assert(200, "Ada Lovelace</strong> was added");
    let page = app.fetch("42").await;
    page.assert(200, "Employee Information")
        .assert(200, r#"<dd id="emp_id">42</dd>"#)
        .assert(200, r#"<dd id="first_name">Ada</dd>"#)
        .assert(200, r#"<dd id="last_name">Lovelace</dd>"#)
        .assert(200, "Primary Interest")
        .assert(200, r#"<dd id="primary_skill">Analytical engines</dd>"#)
        .assert(200, r#"<dd id="location">London</dd>"#);
    app.get("/employees/42")
        .await
        .assert(200, "Analytical engines");
    assert_eq!(app.stored_ids().await, vec![42]);
}

async fn unknown_id_is_a_404_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.fetch("999").await.assert(404, "Employee Not Found");
    for path in ["/employees/999", "/employees/abc"] {
        app.get(path).await.assert(404, "Employee Not Found");
    }
}

async fn duplicate_id_is_a_409_that_keeps_the_form(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_employee("7", "Grace", "Hopper", "Compilers", "Arlington")
        .await
        .assert(200, "was added");
    app.add_employee("7", "Alan", "Turing", "Computability", "Manchester")
        .await
        .assert(409, "An employee with ID 7 already exists")
        .assert(409, r#"value="Alan""#)
        .assert(409, r#"value="Manchester""#);
    app.fetch("7").await.assert(200, "Grace");
    assert_eq!(app.stored_ids().await, vec![7]);
}

async fn each_validation_rule_is_a_422_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let long = "é".repeat(65);
    let at_limit = "é".repeat(64);
    let cases: [(&str, &str, &str, &str); 9] = [
        ("", "Ada", "Employee ID is required", "emp_id"),
        ("abc", "Ada", "positive whole number", "emp_id"),
        ("-5", "Ada", "positive whole number", "emp_id"),
        ("0", "Ada", "1 or more", "emp_id"),
        ("2.5", "Ada", "positive whole number", "emp_id"),
        (
            "99999999999999999999",
            "Ada",
            "at most 9223372036854775807",
            "emp_id",
        ),
        ("5", "", "First name is required", "first_name"),
        ("5", "   ", "First name is required", "first_name"),
        (
            "5",
            &long,
            "at most 64 characters (it has 65)",
            "first_name",
        ),
    ];
    for (id, first, message, field) in cases {
        app.add_employee(id, first, "Lovelace", "Maths", "London")
            .await
            .assert(422, message)
            .assert(422, &format!(r#"id="{field}-error""#))
            .assert(422, r#"value="Lovelace""#);
    }
    // A missing field is named too, not a bare 400.
    app.post_form("/addemp", &[("emp_id", "5"), ("first_name", "Ada")])
        .await
        .assert(422, "Last name is required")
        .assert(422, "Primary skill is required")
        .assert(422, "Location is required")
        .assert(422, "correct the 3 fields");
    assert!(app.stored_ids().await.is_empty());
    // Exactly at the limit, in multi-byte characters, is accepted.
    app.add_employee("5", &at_limit, "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    app.fetch("5").await.assert(200, &at_limit);
    for (id, message) in [
        ("", "Employee ID is required"),
        ("x1", "positive whole number"),
    ] {
        app.fetch(id)
            .await
            .assert(422, message)
            .assert(422, r#"action="/fetchdata""#);
    }
}

async fn script_names_are_escaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let name = "<script>alert(1)</script>";
    let added = app
        .add_employee("8", name, "O'Brien & \"Co\"", "XSS", "<b>Here</b>")
        .await;
    added.assert(200, "&#60;script&#62;alert(1)&#60;/script&#62;");
    assert!(!added.body.contains(name), "{}", added.body);
    let fetched = app.fetch("8").await;
    fetched
        .assert(200, "&#60;script&#62;")
        .assert(200, "&#60;b&#62;Here&#60;/b&#62;");
    assert!(!fetched.body.contains("<script>"));
    assert!(!fetched.body.contains("<b>Here"));
    let listed = app.get("/employees").await;
    assert!(!listed.body.contains("<script>"));
}

async fn employee_list_pages_by_fifty_in_id_order(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/employees")
        .await
        .assert(200, "No employees are stored yet");
    for id in (1..=55).rev() {
        app.add_employee(
            &id.to_string(),
            &format!("Name{id}"),
            "Person",
            "Skill",
            "Town",
        )
        .await
        .assert(200, "was added");
    }
    let first = app.get("/employees").await;
    first
        .assert(200, "Employees 1–50 of 55")
        .assert(200, r#"href="/employees/1""#)
        .assert(200, r#"href="/employees?page=2""#);
    assert!(!first.body.contains(r#"href="/employees/51""#));
    let one = first.body.find(">Name1 Person<").expect("row 1");
    let two = first.body.find(">Name2 Person<").expect("row 2");
    assert!(one < two, "rows are ordered by ID");
    app.get("/employees?page=2")
        .await
        .assert(200, "Employees 51–55 of 55")
        .assert(200, r#"href="/employees?page=1""#);
    app.get("/employees?page=3")
        .await
        .assert(200, "There is no page 3");
    for page in ["zero", "0"] {
        app.get(&format!("/employees?page={page}"))
            .await
            .assert(400, "whole number of 1 or more");
    }
}

on_both_backends!(
    add_then_fetch,
    unknown_id_is_a_404_page,
    duplicate_id_is_a_409_that_keeps_the_form,
    each_validation_rule_is_a_422_naming_the_field,
    script_names_are_escaped,
    employee_list_pages_by_fifty_in_id_order,
);
