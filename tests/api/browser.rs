//! A person's path through the pages in a real browser: Debian's headless Chromium,
//! driven over WebDriver by its own chromedriver, which the test starts on a free port.
//! Screenshots of every page land in `target/screenshots/` (under `CARGO_TARGET_DIR`
//! when it is set), including a phone-sized window.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::s3::S3Server;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// `APP_COLOR=lime` in the test environment: #C1FF9C.
const LIME: &str = "rgb(193, 255, 156)";
const WAIT: Duration = Duration::from_secs(15);
/// The sample background: a 1920x1080 JPEG.
const JPEG: &[u8] = include_bytes!("../../static/sample-background.jpg");

/// A headless Chromium session, and the chromedriver behind it. Dropping it kills
/// chromedriver's whole process group, so no browser outlives a failed test.
struct Browser {
    client: Client,
    driver: Child,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session. Without Chromium, under CI the test
    /// fails; elsewhere it says loudly that it did not run and returns `None`.
    async fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).is_file() || !Path::new(CHROMEDRIVER).is_file() {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "{CHROMIUM} or {CHROMEDRIVER} is missing but CI=true: run scripts/test.sh, \
                 which installs Debian's chromium and chromium-driver"
            );
            eprintln!(
                "NOT RUN: {CHROMIUM} or {CHROMEDRIVER} is missing \
                 (scripts/test.sh installs chromium and chromium-driver)"
            );
            return None;
        }
        let profile = tempfile::Builder::new()
            .prefix("employee-db-chromium-")
            .tempdir()
            .expect("temporary profile directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free local port");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop can kill it and its browsers together.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let browser_args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ),
        ];
        let capabilities: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": browser_args },
            // Every console message, so the test can check there are no errors.
            "goog:loggingPrefs": { "browser": "ALL" },
        }))
        .expect("capabilities are a JSON object");
        let screenshots = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("screenshots");
        std::fs::create_dir_all(&screenshots).expect("create the screenshot directory");

        let webdriver = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                // Refused until chromedriver listens; a real failure repeats until the end.
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!(
                    "no browser session from chromedriver within 30 s: {err}\n{}",
                    std::fs::read_to_string(profile.path().join("chromedriver.log"))
                        .unwrap_or_default()
                ),
            }
        };
        Some(Browser {
            client,
            driver,
            screenshots,
            _profile: profile,
        })
    }

    async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open the page");
    }

    async fn fill(&self, id: &str, value: &str) {
        let field = self.client.find(Locator::Id(id)).await.expect("field");
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type into field");
    }

    async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .expect("button")
            .click()
            .await
            .expect("click");
    }

    /// Waits for an element (the next page after a click), then returns its text.
    async fn text_of(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .text()
            .await
            .expect("element text")
    }

    async fn script(&self, code: &str) -> Value {
        self.client
            .execute(code, vec![])
            .await
            .expect("run a script")
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("save the screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// The stylesheet applied: the body has the configured colour, and nothing is
    /// wider than the window (no sideways scrolling, on a phone too).
    async fn assert_styled(&self, page: &str) {
        let styled = self
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

    /// Every console message since the last call (chromedriver empties its buffer).
    async fn console(&self) -> Vec<Value> {
        match self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("read the console")
        {
            Value::Array(entries) => entries,
            other => panic!("unexpected console log answer: {other}"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// chromedriver's console log (`goog:loggingPrefs`); not part of W3C WebDriver.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
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
    browser.assert_styled("/").await;
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
    browser.assert_styled("added").await;
    browser.screenshot("2-added").await;

    browser.open(&app.url("/getemp")).await;
    browser.assert_styled("/getemp").await;
    browser.fill("emp_id", "4242").await;
    browser.screenshot("3-lookup-form").await;
    browser.click("fetch").await;

    assert_eq!(browser.text_of("h1").await, "Employee Information");
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
    browser.assert_styled("/fetchdata").await;
    browser.screenshot("4-employee").await;

    browser.open(&app.url("/employees")).await;
    browser.assert_styled("/employees").await;
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
        browser.assert_styled(path).await;
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
    let vars = s3.vars("s3://backgrounds/dusk.jpg");
    let app = spawn_app_with(Backend::Sqlite, None, move |all| {
        all.retain(|(name, _)| !vars.iter().any(|(new, _)| new == name));
        all.extend(vars);
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while !app
        .get("/background")
        .await
        .body
        .contains(r#""state":"ready""#)
    {
        assert!(
            Instant::now() < deadline,
            "the background image never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for (path, name) in [("/", "9-background"), ("/getemp", "10-background-lookup")] {
        browser.open(&app.url(path)).await;
        let deadline = Instant::now() + WAIT;
        let image = loop {
            let image = browser
                .script(
                    "const img = document.getElementById('background'); \
                     return img && { complete: img.complete, width: img.naturalWidth, \
                       height: img.naturalHeight, shown: img.getBoundingClientRect().width, \
                       viewport: document.documentElement.clientWidth };",
                )
                .await;
            if image["complete"] == true || Instant::now() > deadline {
                break image;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
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
