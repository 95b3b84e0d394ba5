//! A real browser for the tests: Debian's headless Chromium, driven over WebDriver by its
//! own chromedriver on a free port. Screenshots land in `target/screenshots/` (under
//! `CARGO_TARGET_DIR` when it is set).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::Method;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use super::missing;
use super::net::free_port;
use super::wait::eventually;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(15);

/// A headless Chromium session, and the chromedriver behind it. Dropping it kills
/// chromedriver's whole process group, so no browser outlives a failed test.
pub struct Browser {
    pub client: Client,
    driver: Child,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session. Without Chromium, under CI the test
    /// fails; elsewhere it says loudly that it did not run and returns `None`.
    pub async fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).is_file() || !Path::new(CHROMEDRIVER).is_file() {
            missing(&format!(
                "{CHROMIUM} or {CHROMEDRIVER} (Debian's chromium and chromium-driver)"
            ));
            return None;
        }
        let profile = tempfile::Builder::new()
            .prefix("employee-db-chromium-")
            .tempdir()
            .expect("temporary profile directory");
        let port = free_port();
        let driver_log = profile.path().join("chromedriver.log");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", driver_log.display()))
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
            // Every console message, so a test can check there are no errors.
            "goog:loggingPrefs": { "browser": "ALL" },
        }))
        .expect("capabilities are a JSON object");
        let screenshots = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("screenshots");
        std::fs::create_dir_all(&screenshots).expect("create the screenshot directory");

        let webdriver = format!("http://127.0.0.1:{port}");
        // Refused until chromedriver listens; a real failure repeats until the limit.
        let client = eventually(
            "a browser session from chromedriver",
            Duration::from_secs(30),
            async || {
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&webdriver)
                    .await
                    .map_err(|err| {
                        format!(
                            "{err}\n{}",
                            std::fs::read_to_string(&driver_log).unwrap_or_default()
                        )
                    })
            },
        )
        .await;
        Some(Browser {
            client,
            driver,
            screenshots,
            _profile: profile,
        })
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open the page");
    }

    pub async fn fill(&self, id: &str, value: &str) {
        let field = self.client.find(Locator::Id(id)).await.expect("field");
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type into field");
    }

    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .expect("button")
            .click()
            .await
            .expect("click");
    }

    /// The text of the element `css`, if the page has it now.
    async fn read_text(&self, css: &str) -> Result<String, String> {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Waits for an element (the next page after a click), then returns its text. An
    /// element of the page being left goes stale under the search: it is looked up again.
    pub async fn text_of(&self, css: &str) -> String {
        eventually(&format!("the text of {css}"), WAIT, async || {
            self.read_text(css).await
        })
        .await
    }

    /// Waits until the element `css` says `expected` (the next page after a click has
    /// loaded, when the page being left has the same element).
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        eventually(
            &format!("{css} says {expected:?}"),
            WAIT,
            async || match self.read_text(css).await {
                Ok(text) if text == expected => Ok(()),
                other => Err(format!("{other:?}")),
            },
        )
        .await
    }

    pub async fn script(&self, code: &str) -> Value {
        self.client
            .execute(code, vec![])
            .await
            .expect("run a script")
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("save the screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// Every console message since the last call (chromedriver empties its buffer).
    pub async fn console(&self) -> Vec<Value> {
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
