//! A person's path through the pages in a real browser (see `support::browser`), with
//! screenshots of every page, including a phone-sized window.

use serde_json::{Value, json};

use crate::support::browser::{Browser, WAIT};
use crate::support::s3::S3Server;
use crate::support::{Backend, TestApp, eventually, spawn_app};

/// `APP_COLOR=lime` in the test environment: #C1FF9C.
const LIME: &str = "rgb(193, 255, 156)";
/// The sample background: a 1920x1080 JPEG.
const JPEG: &[u8] = include_bytes!("../../static/sample-background.jpg");

/// The stylesheet applied: the body has the configured colour, and nothing is wider than
/// the window (no sideways scrolling, on a phone too).
async fn assert_styled(browser: &Browser, page: &str) {
    let styled = browser
        .script(
            "return { background: getComputedStyle(document.body).backgroundColor, \
                      sheets: document.styleSheets.length, \
                      overflow: document.documentElement.scrollWidth - window.innerWidth };",
        )
        .await;
    assert_eq!(
        styled["background"], LIME,
        "{page}: /static/app.css did not apply the configured colour: {styled}"
    );
    assert_eq!(
        styled["sheets"], 1,
        "{page}: the stylesheet is missing: {styled}"
    );
    assert!(
        styled["overflow"].as_i64().is_some_and(|px| px <= 0),
        "{page}: the page is wider than the window: {styled}"
    );
}

/// No console errors (CSP violations, failed loads, script errors); all messages are
/// shown when there are any.
async fn assert_no_console_errors(browser: &Browser) {
    let entries = browser.console().await;
    let errors: Vec<&Value> = entries.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(
        errors.is_empty(),
        "console errors in the browser: {errors:#?}\nall messages: {entries:#?}"
    );
}

#[tokio::test]
async fn a_person_adds_an_employee_and_looks_it_up_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app: TestApp = spawn_app(Backend::Sqlite).await;

    browser.open(&app.url("/")).await;
    assert_eq!(browser.text_of("h1").await, "Employee Database");
    assert_eq!(browser.text_of(".group-name").await, "Test Group");
    assert_styled(&browser, "/").await;
    for (field, value) in [
        ("emp_id", "4242"),
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("primary_skill", "Analytical engines"),
        ("location", "London"),
    ] {
        browser.fill(field, value).await;
    }
    browser.screenshot("1-add-form").await;
    browser.click("add").await;

    assert_eq!(browser.text_of("#added-name").await, "Ada Lovelace");
    let confirmation = browser.text_of(".success").await;
    assert!(
        confirmation.contains("was added to the database with ID 4242"),
        "{confirmation}"
    );
    assert_styled(&browser, "added").await;
    browser.screenshot("2-added").await;

    browser.open(&app.url("/getemp")).await;
    assert_styled(&browser, "/getemp").await;
    browser.fill("emp_id", "4242").await;
    browser.screenshot("3-lookup-form").await;
    browser.click("fetch").await;

    browser.wait_for_text("h1", "Employee Information").await;
    for (id, expected) in [
        ("emp_id", "4242"),
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("primary_skill", "Analytical engines"),
        ("location", "London"),
    ] {
        assert_eq!(browser.text_of(&format!("dd#{id}")).await, expected, "{id}");
    }
    assert!(
        browser
            .text_of("dl.details")
            .await
            .contains("Primary Interest")
    );
    assert_styled(&browser, "/fetchdata").await;
    browser.screenshot("4-employee").await;

    browser.open(&app.url("/employees")).await;
    assert_styled(&browser, "/employees").await;
    browser.screenshot("5-employees").await;
    assert_no_console_errors(&browser).await;

    // A phone-sized window: the same pages must fit without sideways scrolling.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize the window");
    for (path, name) in [
        ("/", "6-phone-add-form"),
        ("/employees/4242", "7-phone-employee"),
        ("/employees", "8-phone-employees"),
    ] {
        browser.open(&app.url(path)).await;
        assert_styled(&browser, path).await;
        browser.screenshot(name).await;
    }
    assert_no_console_errors(&browser).await;

    app.stop().await.expect("the app stops cleanly");
}

#[tokio::test]
async fn the_background_image_from_s3_loads_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "dusk.jpg", JPEG);
    let app = TestApp::builder(Backend::Sqlite)
        .envs(s3.vars("s3://backgrounds/dusk.jpg"))
        .spawn()
        .await;
    eventually("the background image ready", WAIT, async || {
        app.get("/background")
            .await
            .body
            .contains(r#""state":"ready""#)
    })
    .await;

    for (path, name) in [("/", "9-background"), ("/getemp", "10-background-lookup")] {
        browser.open(&app.url(path)).await;
        let image = eventually(
            &format!("{path}: the background image loaded"),
            WAIT,
            async || {
                let image = browser
                    .script(
                        "const img = document.getElementById('background'); \
                     return img && { complete: img.complete, width: img.naturalWidth, \
                       height: img.naturalHeight, shown: img.getBoundingClientRect().width, \
                       viewport: document.documentElement.clientWidth };",
                    )
                    .await;
                if image["complete"] == true {
                    Ok(image)
                } else {
                    Err(image)
                }
            },
        )
        .await;
        assert_eq!(
            (&image["width"], &image["height"]),
            (&json!(1920), &json!(1080)),
            "{path}: the background image did not load: {image}"
        );
        assert_eq!(
            image["shown"], image["viewport"],
            "{path}: the background does not cover the window: {image}"
        );
        browser.screenshot(name).await;
    }
    assert_no_console_errors(&browser).await;

    app.stop().await.expect("the app stops cleanly");
}
