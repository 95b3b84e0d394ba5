//! The bad-input sweep: generated forms (proptest) plus a fixed list of hostile requests,
//! for adding, editing, deleting and searching. Never a 5xx, every 4xx page says what is
//! wrong, payloads come back escaped, and the database ends up holding exactly the
//! employees that were accepted, as last saved.

use std::collections::BTreeMap;

use employee_db::employee::{EmpId, Employee, EmployeeForm, Field, FieldErrors, VERSION_FIELD};
use employee_db::search::SearchText;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::on_both_backends;
use crate::support::http::urlencode;
use crate::support::net::raw_get;
use crate::support::{Backend, Page, StoredEmployee, spawn_app};

const GENERATED: usize = 300;
const GENERATED_EDITS: usize = 150;
const GENERATED_SEARCHES: usize = 150;

/// A marker that only user input carries, to spot unescaped markup in a page.
const MARK: &str = "zq7mark";

fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,70}",
        ".{0,70}",
        " {0,2}[A-Za-zÀ-ÿ' -]{0,66} {0,2}",
        "[0-9]{1,3}",
        "-?[0-9]{1,22}(\\.[0-9]{1,2})?",
        "[\\x00-\\x1f]{1,3}[a-z]{0,5}",
        "[a-z]{1,5}<script>alert\\([0-9]\\)</script>",
        "<img src=x onerror=zq7mark[0-9]{3}>",
        Just("' OR '1'='1".to_owned()),
        Just("1; DROP TABLE employee; --".to_owned()),
        Just("\" onmouseover=\"alert(1)".to_owned()),
        Just("😀".repeat(64)),
        Just("😀".repeat(65)),
    ]
}

/// A form where any field may be missing altogether.
fn form() -> impl Strategy<Value = [Option<String>; 5]> {
    let field = || proptest::option::weighted(0.9, field_value());
    let id = proptest::option::weighted(0.95, prop_oneof![3 => "[1-9][0-9]?", 1 => field_value()]);
    (id, field(), field(), field(), field()).prop_map(|(a, b, c, d, e)| [a, b, c, d, e])
}

fn as_form(fields: &[Option<String>; 5]) -> EmployeeForm {
    Field::ALL
        .into_iter()
        .zip(fields)
        .map(|(field, value)| (field, value.clone().unwrap_or_default()))
        .collect()
}

fn encode(fields: &[Option<String>; 5]) -> Vec<u8> {
    Field::ALL
        .iter()
        .zip(fields)
        .filter_map(|(field, value)| {
            value
                .as_ref()
                .map(|v| format!("{}={}", field.name(), urlencode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

#[track_caller]
fn assert_explained(page: &Page, what: &str) {
    assert!(page.status < 500, "{what}: {} {}", page.status, page.body);
    if page.status >= 400 {
        assert!(
            page.body.contains(r#"class="field-error""#) || page.body.contains(r#"class="alert""#),
            "{what}: a {} page that does not say what is wrong:\n{}",
            page.status,
            page.body
        );
    }
    assert!(
        !page.body.contains("<script>alert"),
        "{what}: unescaped script"
    );
    assert!(
        !page.body.contains(&format!("<img src=x onerror={MARK}")),
        "{what}: unescaped tag"
    );
    assert!(
        !page.body.contains("\" onmouseover=\""),
        "{what}: attribute broken out of"
    );
}

async fn generated_forms_are_accepted_or_explained(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut runner = runner(7);
    let strategy = form();
    let mut accepted: BTreeMap<EmpId, Employee> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in 0..GENERATED {
        let fields = strategy.new_tree(&mut runner).expect("generate").current();
        let expected = as_form(&fields).validate();
        let page = app
            .post_raw(
                "/addemp",
                "application/x-www-form-urlencoded",
                encode(&fields),
            )
            .await;
        let what = format!("case {case}: {fields:?}");
        assert_explained(&page, &what);
        *statuses.entry(page.status).or_default() += 1;
        match expected {
            Ok(employee) if accepted.contains_key(&employee.emp_id()) => {
                assert_eq!(page.status, 409, "{what}");
            }
            Ok(employee) => {
                assert_eq!(page.status, 200, "{what}: {}", page.body);
                accepted.insert(employee.emp_id(), employee);
            }
            Err(errors) => {
                assert_eq!(page.status, 422, "{what}");
                assert_messages_shown(&page, &errors, &what);
            }
        }
    }
    // Some of each kind, or the generator is not exercising the app.
    for status in [200, 409, 422] {
        assert!(
            statuses.get(&status).copied().unwrap_or(0) >= 5,
            "too few {status}: {statuses:?}"
        );
    }
    let stored = app.stored_employees().await;
    let expected: Vec<StoredEmployee> = accepted.values().map(StoredEmployee::from).collect();
    assert_eq!(
        stored, expected,
        "the database must hold exactly the accepted employees"
    );
    println!("bad-input sweep ({backend:?}): {GENERATED} generated forms, statuses {statuses:?}");
}

/// A runner with a fixed seed, so a failure can be replayed.
fn runner(seed: u8) -> TestRunner {
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

/// Shows every field error of `errors` on `page`, escaped.
#[track_caller]
fn assert_messages_shown(page: &Page, errors: &FieldErrors, what: &str) {
    for field in errors.fields() {
        let message = errors.get(field).unwrap_or_default();
        assert!(
            page.body.contains(&html_escape(message)),
            "{what}: {}: {message} not shown",
            field.name()
        );
    }
}

/// Generated edit forms for one employee, some posted over an older version: each is
/// saved (200), explained (422, or 409 for the older version), never a 5xx, and the
/// row ends up as the last save left it.
async fn generated_edits_are_saved_or_explained(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_employee("1", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    let emp_id = EmpId::parse("1").expect("a valid ID");
    let mut stored = ada(1);
    let mut version = 1_i64;
    let mut runner = runner(11);
    let strategy = form();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in 0..GENERATED_EDITS {
        let fields = strategy.new_tree(&mut runner).expect("generate").current();
        let stale = case % 3 == 2 && version > 1;
        let sent_version = if stale { version - 1 } else { version };
        let mut body = encode(&fields);
        body.extend_from_slice(format!("&{VERSION_FIELD}={sent_version}").as_bytes());
        let page = app
            .post_raw(
                "/employees/1/edit",
                "application/x-www-form-urlencoded",
                body,
            )
            .await;
        let what = format!("edit {case} (version {sent_version} of {version}): {fields:?}");
        assert_explained(&page, &what);
        *statuses.entry(page.status).or_default() += 1;
        match as_form(&fields).with_emp_id(emp_id).validate() {
            Err(errors) => {
                assert_eq!(page.status, 422, "{what}");
                assert_messages_shown(&page, &errors, &what);
            }
            // Over an older version, unless the row already holds these values.
            Ok(employee) if stale && StoredEmployee::from(&employee) != stored => {
                assert_eq!(page.status, 409, "{what}");
                assert!(page.body.contains("Someone else changed"), "{what}");
            }
            Ok(employee) => {
                assert_eq!(page.status, 200, "{what}: {}", page.body);
                let saved = StoredEmployee::from(&employee);
                if saved != stored {
                    version += 1;
                    stored = saved;
                }
            }
        }
    }
    for status in [200, 409, 422] {
        assert!(
            statuses.get(&status).copied().unwrap_or(0) >= 5,
            "too few {status}: {statuses:?}"
        );
    }
    assert_eq!(
        app.stored_employees().await,
        vec![stored],
        "the row must hold exactly the last saved edit"
    );
    println!(
        "bad-input sweep ({backend:?}): {GENERATED_EDITS} generated edits, statuses {statuses:?}"
    );
}

/// Generated search texts: answered (200) or explained (400) exactly as `SearchText`
/// decides, echoed escaped, never a 5xx, and nothing changes.
async fn generated_searches_are_answered_or_explained(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_employee("1", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    let before = app.stored_employees().await;
    let mut runner = runner(13);
    let strategy = field_value();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in 0..GENERATED_SEARCHES {
        let q = strategy.new_tree(&mut runner).expect("generate").current();
        let page = app.get(&format!("/employees?q={}", urlencode(&q))).await;
        let what = format!("search {case}: {q:?}");
        assert_explained(&page, &what);
        *statuses.entry(page.status).or_default() += 1;
        match SearchText::parse(Some(&q)) {
            Ok(_) => assert_eq!(page.status, 200, "{what}: {}", page.body),
            Err(err) => {
                page.assert(400, &html_escape(&err.to_string()));
            }
        }
    }
    for status in [200, 400] {
        assert!(
            statuses.get(&status).copied().unwrap_or(0) >= 5,
            "too few {status}: {statuses:?}"
        );
    }
    assert_eq!(app.stored_employees().await, before);
    println!(
        "bad-input sweep ({backend:?}): {GENERATED_SEARCHES} generated searches, statuses {statuses:?}"
    );
}

/// Hostile edits, deletes and searches: each refused with a reason, or harmless.
async fn hostile_edits_deletes_and_searches_are_refused_with_a_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    for id in ["1", "2"] {
        app.add_employee(id, "Ada", "Lovelace", "Maths", "London")
            .await
            .assert(200, "was added");
    }
    let form = "application/x-www-form-urlencoded";
    let ok = "first_name=Ada&last_name=Lovelace&primary_skill=Maths&location=London";
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("no fields", form, b"".to_vec(), 400, "could not be read"),
        (
            "no version",
            form,
            ok.as_bytes().to_vec(),
            400,
            "could not be read",
        ),
        (
            "two versions",
            form,
            format!("{ok}&version=1&version=1").into_bytes(),
            400,
            "could not be read",
        ),
        (
            "negative version",
            form,
            format!("{ok}&version=-1").into_bytes(),
            400,
            "could not be read",
        ),
        (
            "sql in version",
            form,
            format!("{ok}&version=1%20OR%201%3D1").into_bytes(),
            400,
            "could not be read",
        ),
        (
            "two first names",
            form,
            format!("{ok}&first_name=Eve&version=1").into_bytes(),
            400,
            "could not be read",
        ),
        (
            "only a version",
            form,
            b"version=1".to_vec(),
            422,
            "correct the 4 fields",
        ),
        (
            "invalid utf-8",
            form,
            format!("version=1&first_name=%C3%28&{}", &ok[14..]).into_bytes(),
            422,
            "not valid UTF-8",
        ),
        (
            "a future version",
            form,
            format!("{}&version=999", ok.replace("Ada", "Eve")).into_bytes(),
            409,
            "Someone else changed",
        ),
        (
            "json",
            "application/json",
            br#"{"version":1}"#.to_vec(),
            415,
            "application/x-www-form-urlencoded",
        ),
        (
            "multipart",
            "multipart/form-data; boundary=x",
            b"--x--".to_vec(),
            415,
            "Unsupported form encoding",
        ),
        ("1 MB", form, vec![b'a'; 1 << 20], 413, "Form too large"),
    ];
    for (what, content_type, body, status, needle) in cases {
        let page = app.post_raw("/employees/1/edit", content_type, body).await;
        assert_explained(&page, what);
        page.assert(status, needle);
    }

    // SQL in the fields is stored as text; the ID in the form cannot move the row.
    let sql = "Robert'); DROP TABLE employee;--";
    app.post_form(
        "/employees/2/edit",
        &[
            ("emp_id", "1 OR 1=1"),
            ("first_name", sql),
            ("last_name", "Tables"),
            ("primary_skill", "SQL"),
            ("location", "School"),
            (VERSION_FIELD, "1"),
        ],
    )
    .await
    .assert(200, "Robert&#39;); DROP TABLE employee;--");

    for path in [
        "/employees/1%20OR%201=1/edit",
        "/employees/-1/delete",
        "/employees/0/edit",
        "/employees/99999999999999999999/delete",
        "/employees/1%00/edit",
        "/employees/3/delete",
    ] {
        let page = app.post_raw(path, form, Vec::new()).await;
        assert_explained(&page, path);
        page.assert(404, "Employee Not Found");
        app.get(path).await.assert(404, "Employee Not Found");
    }
    for (method, path) in [
        ("PUT", "/employees/1/edit"),
        ("PATCH", "/employees/1/delete"),
        ("DELETE", "/employees/1"),
        ("DELETE", "/employees/1/delete"),
        ("POST", "/employees"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
    }

    for (query, status, needle) in [
        ("q=%27%20OR%20%271%27%3D%271", 200, "No employees match"),
        ("q=%25", 200, "No employees match"),
        ("q=_", 200, "No employees match"),
        ("q=%C3%28", 200, "No employees match"),
        ("q=a%00", 400, "control characters"),
        ("q=a&q=b", 400, "The request was not accepted"),
        ("q=ada&page=-1", 400, "whole number"),
        ("q[]=ada", 200, "Employees 1–2 of 2"),
    ] {
        let page = app.get(&format!("/employees?{query}")).await;
        assert_explained(&page, query);
        page.assert(status, needle);
    }
    let long = app
        .get(&format!("/employees?q={}", "%F0%9F%98%80".repeat(2000)))
        .await;
    assert_explained(&long, "a 2,000-character search");
    long.assert(400, "at most 64 characters");

    // Twice deleted, once stored: only employee 1 is left, as it was added.
    for _ in 0..2 {
        app.post_raw("/employees/2/delete", form, Vec::new()).await;
    }
    assert_eq!(app.stored_employees().await, vec![ada(1)]);
}

/// Ada Lovelace, as the sweeps of edits and deletes add her.
fn ada(emp_id: i64) -> StoredEmployee {
    StoredEmployee {
        emp_id,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        primary_skill: "Maths".into(),
        location: "London".into(),
    }
}

async fn fixed_hostile_requests_are_refused_with_a_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let form = "application/x-www-form-urlencoded";
    let ok = "first_name=Ada&last_name=Lovelace&primary_skill=Maths&location=London";
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "no fields",
            form,
            b"".to_vec(),
            422,
            "Employee ID is required",
        ),
        (
            "only an id",
            form,
            b"emp_id=3".to_vec(),
            422,
            "First name is required",
        ),
        (
            "whitespace",
            form,
            format!("emp_id=%20&{ok}").into_bytes(),
            422,
            "Employee ID is required",
        ),
        (
            "negative",
            form,
            format!("emp_id=-3&{ok}").into_bytes(),
            422,
            "positive whole number",
        ),
        (
            "zero",
            form,
            format!("emp_id=0&{ok}").into_bytes(),
            422,
            "1 or more",
        ),
        (
            "fraction",
            form,
            format!("emp_id=1.5&{ok}").into_bytes(),
            422,
            "positive whole number",
        ),
        (
            "huge",
            form,
            format!("emp_id={}&{ok}", "9".repeat(40)).into_bytes(),
            422,
            "at most",
        ),
        (
            "sql in id",
            form,
            format!("emp_id=1%20OR%201%3D1&{ok}").into_bytes(),
            422,
            "positive whole number",
        ),
        (
            "65 multi-byte",
            form,
            format!(
                "emp_id=3&first_name={}&last_name=a&primary_skill=b&location=c",
                urlencode(&"ß".repeat(65))
            )
            .into_bytes(),
            422,
            "at most 64 characters (it has 65)",
        ),
        (
            "invalid utf-8",
            form,
            format!("emp_id=3&first_name=%C3%28&{}", &ok[14..]).into_bytes(),
            422,
            "not valid UTF-8",
        ),
        (
            "json",
            "application/json",
            br#"{"emp_id":3}"#.to_vec(),
            415,
            "application/x-www-form-urlencoded",
        ),
        (
            "multipart",
            "multipart/form-data; boundary=x",
            b"--x--".to_vec(),
            415,
            "Unsupported form encoding",
        ),
        (
            "no content type",
            "",
            format!("emp_id=3&{ok}").into_bytes(),
            415,
            "Unsupported form encoding",
        ),
        ("1 MB", form, vec![b'a'; 1 << 20], 413, "Form too large"),
    ];
    for (what, content_type, body, status, needle) in cases {
        let page = app.post_raw("/addemp", content_type, body).await;
        assert_explained(&page, what);
        page.assert(status, needle);
    }

    // 10 MB: refused from its Content-Length, before it is read.
    let big = app
        .client
        .post(app.url("/addemp"))
        .header("content-type", form)
        .body(vec![b'a'; 10 << 20])
        .send()
        .await;
    if let Ok(response) = big {
        assert_eq!(response.status().as_u16(), 413);
    }

    // SQL injection stored as plain text, not executed.
    let sql = "Robert'); DROP TABLE employee;--";
    app.add_employee("9", sql, "Tables", "SQL", "School")
        .await
        .assert(200, "was added");
    app.fetch("9")
        .await
        .assert(200, "Robert&#39;); DROP TABLE employee;--");
    app.fetch("9 OR 1=1")
        .await
        .assert(422, "positive whole number");

    for (method, path) in [
        ("GET", "/addemp"),
        ("GET", "/fetchdata"),
        ("PUT", "/"),
        ("DELETE", "/about"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Method not allowed")
        );
    }

    for path in [
        "/static/../Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%5c..%5cCargo.toml",
        "/static//etc/passwd",
    ] {
        let page = raw_get(app.port, path).await;
        assert!(
            page.starts_with("HTTP/1.1 404") || page.starts_with("HTTP/1.1 400"),
            "{path}: {page}"
        );
        assert!(
            !page.contains("[package]") && !page.contains("root:"),
            "{path} leaked a file"
        );
    }

    assert_eq!(
        app.stored_ids().await,
        vec![9],
        "only the one valid add is stored"
    );
}

/// The escaping askama applies to text in `.html` templates.
fn html_escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

on_both_backends!(
    generated_forms_are_accepted_or_explained,
    fixed_hostile_requests_are_refused_with_a_reason,
    generated_edits_are_saved_or_explained,
    generated_searches_are_answered_or_explained,
    hostile_edits_deletes_and_searches_are_refused_with_a_reason,
);
