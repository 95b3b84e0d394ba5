//! Every page of the original app, plus the new list and the probes.

use crate::on_both_backends;
use crate::support::{Backend, spawn_app};

async fn home_page_has_the_form_and_the_group(backend: Backend) {
    let app = spawn_app(backend).await;
    for page in [app.get("/").await, app.post_form("/", &[]).await] {
        page.assert(200, "Employee Database")
            .assert(200, "Test Group")
            .assert(200, "Tested for real")
            .assert(200, r#"action="/addemp""#)
            .assert(200, r#"formaction="/getemp""#)
            .assert(200, r#"href="/about""#)
            .assert(200, "theme-lime")
            .assert(200, r#"name="viewport""#);
        for field in [
            "emp_id",
            "first_name",
            "last_name",
            "primary_skill",
            "location",
        ] {
            page.assert(200, &format!(r#"<label for="{field}">"#))
                .assert(200, &format!(r#"name="{field}""#));
        }
        assert!(page.header("content-type").starts_with("text/html"));
    }
}

async fn about_page_answers_get_and_post(backend: Backend) {
    let app = spawn_app(backend).await;
    for page in [app.get("/about").await, app.post_form("/about", &[]).await] {
        page.assert(200, "Hello From CLO835!")
            .assert(200, "Test Group")
            .assert(200, r#"href="/""#);
    }
}

async fn lookup_form_posts_to_fetchdata_and_keeps_the_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/getemp")
        .await
        .assert(200, r#"action="/fetchdata""#)
        .assert(200, r#"<label for="emp_id">"#);
    // The home form's second button posts every field here.
    app.post_form("/getemp", &[("emp_id", "77"), ("first_name", "x")])
        .await
        .assert(200, r#"value="77""#);
}

async fn probes_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let live = app.get("/healthz").await;
    assert_eq!((live.status, live.body.as_str()), (200, "ok\n"));
    app.get("/readyz").await.assert(200, "ready");
}

async fn static_files_have_cache_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let css = app.get("/static/app.css").await;
    css.assert(200, ".theme-lime");
    assert!(css.header("content-type").starts_with("text/css"));
    assert_eq!(css.header("cache-control"), "public, max-age=3600");
    app.get("/static/nothing-here.css")
        .await
        .assert(404, "Page not found");
}

on_both_backends!(
    home_page_has_the_form_and_the_group,
    about_page_answers_get_and_post,
    lookup_form_posts_to_fetchdata_and_keeps_the_id,
    probes_answer,
    static_files_have_cache_headers,
);
