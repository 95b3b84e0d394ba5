//! Security headers, limits and the pages for requests that are not accepted.

use crate::on_both_backends;
use crate::support::{Backend, spawn_app};

async fn every_response_has_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_employee("1", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    for path in [
        "/",
        "/about",
        "/getemp",
        "/employees",
        "/employees?q=lov",
        "/employees/1",
        "/employees/1/edit",
        "/employees/1/delete",
        "/healthz",
        "/no-such-page",
        "/static/app.css",
    ] {
        let page = app.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src"),
            "no script is allowed at all: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(page.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(page.header("referrer-policy"), "same-origin", "{path}");
        assert!(!page.header("x-request-id").is_empty(), "{path}");
    }
    for path in [
        "/",
        "/employees?q=lov",
        "/employees/1/edit",
        "/employees/1/delete",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
        assert!(!page.body.contains("style="), "{path}: no inline styles");
        assert!(!page.body.contains("<script"), "{path}: no scripts");
    }
}

async fn unknown_paths_get_a_404_page_in_the_layout(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/no/such/page")
        .await
        .assert(404, "Page not found")
        .assert(404, "Test Group")
        .assert(404, r#"href="/static/app.css""#);
}

async fn bodies_over_16_kib_get_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = "a".repeat(17 * 1024);
    app.add_employee("1", &big, "x", "y", "z")
        .await
        .assert(413, "Form too large")
        .assert(413, "16 KiB");
    assert!(app.stored_ids().await.is_empty());
}

async fn wrong_methods_and_encodings_are_explained(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.get("/addemp").await;
    page.assert(405, "does not accept GET");
    assert!(page.header("allow").contains("POST"));
    app.get("/fetchdata")
        .await
        .assert(405, "Method not allowed");
    app.post_raw("/addemp", "application/json", br#"{"emp_id":1}"#.to_vec())
        .await
        .assert(415, "application/x-www-form-urlencoded");
    app.post_raw("/addemp", "", b"emp_id=1".to_vec())
        .await
        .assert(415, "Unsupported form encoding");
    app.post_raw(
        "/addemp",
        "application/x-www-form-urlencoded",
        b"emp_id=1&first_name=%FF%FE".to_vec(),
    )
    .await
    .assert(
        422,
        "First name contains bytes that are not valid UTF-8 text",
    );
    assert!(app.stored_ids().await.is_empty());
}

on_both_backends!(
    every_response_has_security_headers,
    unknown_paths_get_a_404_page_in_the_layout,
    bodies_over_16_kib_get_413,
    wrong_methods_and_encodings_are_explained,
);
