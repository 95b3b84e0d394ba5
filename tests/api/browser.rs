//! A person's path through the pages in a real browser (see `support::browser`): adding
//! and looking up, correcting, finding and deleting, with screenshots of every page,
//! including a phone-sized window.

use employee_db::employee::Field;
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
    let ada = ["4242", "Ada", "Lovelace", "Analytical engines", "London"];
    for (field, value) in Field::ALL.into_iter().zip(ada) {
        browser.fill(field.name(), value).await;
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
    browser.fill(Field::EmpId.name(), "4242").await;
    browser.screenshot("3-lookup-form").await;
    browser.click("fetch").await;

    browser.wait_for_text("h1", "Employee Information").await;
    for (field, expected) in Field::ALL.into_iter().zip(ada) {
        let id = field.name();
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
        ("/employees?q=love", "8a-phone-search"),
        ("/employees/4242/edit", "8b-phone-edit"),
        ("/employees/4242/delete", "8c-phone-delete"),
    ] {
        browser.open(&app.url(path)).await;
        assert_styled(&browser, path).await;
        browser.screenshot(name).await;
    }
    assert_no_console_errors(&browser).await;

    app.stop().await.expect("the app stops cleanly");
}

/// A new user's path: add with a typo, fix it, find them by part of the surname, delete
/// them, each step confirmed on the page.
#[tokio::test]
async fn a_person_fixes_a_typo_finds_and_deletes_an_employee_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app: TestApp = spawn_app(Backend::Sqlite).await;
    for (id, last) in [("1", "Babbage"), ("2", "Lovell")] {
        app.add_employee(id, "Charles", last, "Engines", "London")
            .await
            .assert(200, "was added");
    }

    // Added with a typo in the surname.
    browser.open(&app.url("/")).await;
    let typo = ["4243", "Ada", "Lovelcae", "Analytical engines", "London"];
    for (field, value) in Field::ALL.into_iter().zip(typo) {
        browser.fill(field.name(), value).await;
    }
    browser.click("add").await;
    assert_eq!(browser.text_of("#added-name").await, "Ada Lovelcae");

    // Fixed from the details page's Edit button; the ID cannot be changed there.
    browser.open(&app.url("/employees/4243")).await;
    browser.click("edit").await;
    browser.wait_for_text("h1", "Edit employee").await;
    let id_input = browser
        .script(
            "const id = document.getElementById('emp_id');              return { value: id.value, readOnly: id.readOnly,                       labelled: document.querySelectorAll('label[for]').length };",
        )
        .await;
    assert_eq!(
        id_input,
        json!({ "value": "4243", "readOnly": true, "labelled": 5 }),
        "the edit form shows the stored ID, read-only, and labels every input"
    );
    assert_styled(&browser, "edit").await;
    browser.fill(Field::LastName.name(), "Lovelace").await;
    browser.screenshot("11-edit-fixed").await;
    browser.click("save").await;
    assert_eq!(browser.text_of("#saved-name").await, "Ada Lovelace");
    let saved = browser.text_of(".success").await;
    assert!(saved.contains("Changed: Last name."), "{saved}");
    browser.screenshot("12-saved").await;

    // Someone else saves while the form is open: the save is refused with both versions
    // shown, and saving again applies it.
    browser.open(&app.url("/employees/4243/edit")).await;
    browser.wait_for_text("h1", "Edit employee").await;
    app.edit_employee(
        "4243",
        "2",
        ["4243", "Ada", "Lovelace", "Analytical engines", "Paris"],
    )
    .await
    .assert(200, "Changed: Location.");
    browser
        .fill(Field::PrimarySkill.name(), "Mathematics")
        .await;
    browser.click("save").await;
    browser
        .wait_for_text("h1", "Someone else changed this employee")
        .await;
    assert_eq!(browser.text_of("#current-location").await, "Paris");
    assert_eq!(browser.text_of("#yours-location").await, "London");
    assert_eq!(browser.text_of("#yours-primary_skill").await, "Mathematics");
    assert_styled(&browser, "conflict").await;
    browser.screenshot("12a-conflict").await;
    // The browser reports the 409 status itself as an error, and nothing else.
    let entries = browser.console().await;
    let unexpected: Vec<&Value> = entries
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .filter(|e| {
            !e["message"]
                .as_str()
                .is_some_and(|m| m.contains("/edit - Failed to load resource") && m.contains("409"))
        })
        .collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:#?}");
    browser.click("save").await;
    let reapplied = browser.text_of(".success").await;
    assert!(
        reapplied.contains("Changed: Primary skill, Location."),
        "{reapplied}"
    );

    // Found by part of the surname, whatever its case.
    browser.open(&app.url("/employees")).await;
    browser.fill("q", "LOVEL").await;
    browser.click("search").await;
    browser.wait_for_text("h1", "Search results").await;
    let results = browser.text_of("table tbody").await;
    assert!(results.contains("Ada Lovelace"), "{results}");
    assert!(results.contains("Charles Lovell"), "{results}");
    assert!(!results.contains("Babbage"), "{results}");
    assert_eq!(
        browser
            .script("return document.getElementById('q').value;")
            .await,
        "LOVEL",
        "the box keeps the search"
    );
    assert_styled(&browser, "search").await;
    browser.screenshot("13-search").await;

    // Deleted after a confirmation that names them.
    browser.open(&app.url("/employees/4243")).await;
    browser.click("delete").await;
    browser.wait_for_text("h1", "Delete this employee?").await;
    assert_eq!(browser.text_of("#delete-name").await, "Ada Lovelace");
    assert_eq!(
        app.stored_ids().await,
        vec![1, 2, 4243],
        "not before confirming"
    );
    assert_styled(&browser, "delete").await;
    browser.screenshot("14-delete-confirm").await;
    browser.click("confirm-delete").await;
    assert_eq!(browser.text_of("#deleted-name").await, "Ada Lovelace");
    browser.screenshot("15-deleted").await;
    assert_eq!(app.stored_ids().await, vec![1, 2]);

    browser.open(&app.url("/employees?q=lovela")).await;
    let empty = browser.text_of(".empty").await;
    assert!(empty.contains("No employees match “lovela”"), "{empty}");
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
