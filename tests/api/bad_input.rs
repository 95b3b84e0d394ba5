//! The bad-input sweep: generated forms (proptest) plus a fixed list of hostile requests.
//! Never a 5xx, every 4xx page says what is wrong, payloads come back escaped, and the
//! database ends up holding exactly the employees that were accepted.

use std::collections::BTreeMap;

use employee_db::employee::{EmpId, Employee, EmployeeForm, Field};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::on_both_backends;
use crate::support::http::urlencode;
use crate::support::net::raw_get;
use crate::support::{Backend, Page, StoredEmployee, spawn_app};

const GENERATED: usize = 300;

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
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
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
                for field in errors.fields() {
                    let message = errors.get(field).unwrap_or_default();
                    let escaped = html_escape(message);
                    assert!(
                        page.body.contains(&escaped),
                        "{what}: {}: {message} not shown",
                        field.name()
                    );
                }
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
);
