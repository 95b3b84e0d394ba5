//! The background image, end to end: the real app started from environment variables,
//! fetching from an in-process S3-protocol server that checks signatures.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::app::AppBuilder;
use crate::support::http::header;
use crate::support::logs::Logs;
use crate::support::net::{free_port, silent_listener};
use crate::support::s3::{S3Server, SECRET_KEY, client_vars};
use crate::support::{Backend, Page, TestApp, eventually};

const JPEG: &[u8] = include_bytes!("../../static/sample-background.jpg");
const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"><rect width=\"4\" height=\"4\" fill=\"teal\"/></svg>\n";

/// A PNG signature and a label: the app checks signatures, not pixels, and the label
/// makes each version's bytes (and so its hash) different.
fn png(label: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(label.as_bytes());
    bytes
}

/// The app on SQLite with the background variables `vars`.
fn app_with(vars: Vec<(String, String)>) -> AppBuilder<'static> {
    TestApp::builder(Backend::Sqlite).envs(vars)
}

async fn status(app: &TestApp) -> Value {
    let page = app.get("/background").await;
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).expect("GET /background is JSON")
}

/// `GET /background` once `done` holds.
async fn wait_for(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(what, Duration::from_secs(10), async || {
        let now = status(app).await;
        if done(&now) { Ok(now) } else { Err(now) }
    })
    .await
}

async fn wait_for_state(app: &TestApp, state: &str) -> Value {
    wait_for(app, state, |s| s["state"] == state).await
}

/// The failure once the app has given up on the image.
async fn failure(app: &TestApp) -> Value {
    let status = wait_for_state(app, "failed").await;
    assert!(status["image"].is_null(), "{status:#}");
    status["last_error"].clone()
}

/// The app gives up on the image with `category`, its advice (`check`) names each of
/// `advice`, and pages keep the colour.
async fn assert_gives_up(app: &TestApp, category: &str, advice: &[&str]) {
    let error = failure(app).await;
    assert_eq!(error["category"], category, "{error:#}");
    let check = error["check"].as_str().unwrap_or_default();
    for needle in advice {
        assert!(check.contains(needle), "{needle} missing from {error:#}");
    }
    assert_colour_only(app).await;
}

/// The background image a page refers to, if any.
fn background_src(page: &Page) -> Option<String> {
    let start = page.body.find(r#"id="background" src=""#)? + r#"id="background" src=""#.len();
    let len = page.body[start..].find('"')?;
    Some(page.body[start..start + len].to_owned())
}

async fn assert_colour_only(app: &TestApp) {
    let page = app.get("/").await;
    page.assert(200, "theme-lime");
    assert_eq!(background_src(&page), None, "{}", page.body);
    assert!(!page.body.contains("has-background"));
}

#[tokio::test]
async fn an_object_from_a_private_bucket_is_shown_and_served_from_the_cache() {
    let (logs, _guard) = Logs::capture();
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "team photos/dusk+hills é.jpg", JPEG);
    // The virtual-hosted form, with a key that has a space, a plus and an accent.
    let url =
        "https://backgrounds.s3.eu-west-1.amazonaws.com/team%20photos/dusk+hills%20%C3%A9.jpg";
    let app = app_with(s3.vars(url)).spawn().await;

    let status = wait_for_state(&app, "ready").await;
    let path = status["image"]["path"]
        .as_str()
        .expect("image path")
        .to_owned();
    assert!(
        path.starts_with("/background/") && path.ends_with(".jpg") && path.len() == 32,
        "{path}"
    );
    assert_eq!(status["source"]["url"], url);
    assert_eq!(status["source"]["from"], "BACKGROUND_IMAGE_URL");
    assert_eq!(status["source"]["bucket"], "backgrounds");
    assert_eq!(status["source"]["key"], "team photos/dusk+hills é.jpg");
    assert_eq!(status["image"]["content_type"], "image/jpeg");
    assert_eq!(status["image"]["size"], JPEG.len());
    assert!(
        status["image"]["etag"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert!(
        status["image"]["fetched_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(status["last_error"].is_null());

    for page in ["/", "/about", "/getemp"] {
        let page = app.get(page).await;
        assert_eq!(background_src(&page).as_deref(), Some(path.as_str()));
        assert!(page.body.contains("has-background"));
    }
    let (code, headers, body) = app.get_bytes(&path).await;
    assert_eq!(code, 200);
    assert!(body == JPEG, "served bytes differ from the object");
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");

    let unknown = app.get("/background/0123456789abcdef.jpg").await;
    unknown.assert(404, "theme-lime");

    let logs = logs.text();
    assert!(
        logs.contains("background image URL") && logs.contains(url),
        "{logs}"
    );
    assert_eq!(logs.matches("background image ready").count(), 1, "{logs}");
}

#[tokio::test]
async fn an_svg_is_served_as_an_image_that_cannot_run_scripts() {
    let s3 = S3Server::start().await;
    s3.put("art", "bg.svg", SVG);
    let app = app_with(s3.vars("s3://art/bg.svg")).spawn().await;
    let status = wait_for_state(&app, "ready").await;
    let path = status["image"]["path"].as_str().expect("image path");
    assert!(path.ends_with(".svg"), "{path}");
    let (code, headers, body) = app.get_bytes(path).await;
    assert_eq!((code, body.as_slice()), (200, SVG));
    assert_eq!(header(&headers, "content-type"), "image/svg+xml");
    let policy = header(&headers, "content-security-policy");
    assert!(
        policy.contains("default-src 'none'") && policy.contains("sandbox"),
        "{policy}"
    );
}

#[tokio::test]
async fn a_wrong_secret_key_leaves_the_colour_and_logs_access_denied() {
    let (logs, _guard) = Logs::capture();
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "bg.jpg", JPEG);
    let app = app_with(s3.vars_with_secret("s3://backgrounds/bg.jpg", "not-the-secret"))
        .spawn()
        .await;

    assert_gives_up(&app, "access_denied", &["AWS_SECRET_ACCESS_KEY"]).await;
    let failed = logs.lines_with("background image failed");
    assert_eq!(failed.len(), 1, "one line per failure: {failed:#?}");
    assert!(
        failed[0].contains("background image failed: access denied — "),
        "{}",
        failed[0]
    );
    assert!(
        !logs.text().contains("not-the-secret"),
        "the secret was logged"
    );
}

#[tokio::test]
async fn a_busy_s3_is_retried_within_the_fetch_timeout() {
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "bg.jpg", JPEG);
    s3.unavailable_for(2);
    let app = app_with(s3.vars("s3://backgrounds/bg.jpg")).spawn().await;
    wait_for_state(&app, "ready").await;
    assert_eq!(s3.gets(), 3, "two 503 answers, then the object");
}

#[tokio::test]
async fn an_endpoint_that_refuses_connections_is_retried_until_the_deadline() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let app = app_with(client_vars(
        &endpoint,
        "s3://backgrounds/bg.jpg",
        SECRET_KEY,
    ))
    .env("BACKGROUND_FETCH_TIMEOUT_SECS", "1")
    .spawn()
    .await;
    assert_gives_up(&app, "unreachable", &[&endpoint, "attempts in 1 s"]).await;
}

#[tokio::test]
async fn a_missing_object_is_shown_once_it_is_uploaded() {
    let s3 = S3Server::start().await;
    s3.create_bucket("backgrounds");
    let app = app_with(s3.vars("s3://backgrounds/later.png"))
        .env("BACKGROUND_REFRESH_SECS", "1")
        .spawn()
        .await;
    assert_gives_up(&app, "no_such_key", &[]).await;
    s3.put("backgrounds", "later.png", &png("later"));
    let shown = wait_for_state(&app, "ready").await;
    assert!(shown["last_error"].is_null(), "{shown:#}");
    let page = app.get("/").await;
    assert_eq!(
        background_src(&page).as_deref(),
        shown["image"]["path"].as_str()
    );
}

#[tokio::test]
async fn a_missing_bucket_leaves_the_colour() {
    let s3 = S3Server::start().await;
    let app = app_with(s3.vars("s3://no-such-bucket/bg.jpg"))
        .spawn()
        .await;
    assert_gives_up(&app, "no_such_bucket", &["no-such-bucket"]).await;
}

#[tokio::test]
async fn a_missing_key_leaves_the_colour() {
    let s3 = S3Server::start().await;
    s3.create_bucket("backgrounds");
    let app = app_with(s3.vars("s3://backgrounds/missing.jpg"))
        .spawn()
        .await;
    assert_gives_up(&app, "no_such_key", &["missing.jpg"]).await;
}

#[tokio::test]
async fn an_object_that_is_not_an_image_leaves_the_colour() {
    let s3 = S3Server::start().await;
    s3.put(
        "backgrounds",
        "bg.jpg",
        b"<!doctype html><script>alert(1)</script>",
    );
    let cache = tempfile::tempdir().unwrap();
    let app = app_with(s3.vars("s3://backgrounds/bg.jpg"))
        .env("BACKGROUND_CACHE_DIR", &cache.path().display().to_string())
        .spawn()
        .await;
    assert_gives_up(&app, "not_an_image", &[]).await;
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        0,
        "nothing is cached"
    );
}

#[tokio::test]
async fn an_unwritable_cache_folder_leaves_the_colour() {
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "bg.jpg", JPEG);
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, b"").unwrap();
    let app = app_with(s3.vars("s3://backgrounds/bg.jpg"))
        .env(
            "BACKGROUND_CACHE_DIR",
            &not_a_folder.join("cache").display().to_string(),
        )
        .spawn()
        .await;
    assert_gives_up(&app, "cache_not_writable", &["BACKGROUND_CACHE_DIR"]).await;
}

#[tokio::test]
async fn an_object_over_the_size_limit_leaves_the_colour() {
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "huge.png", &png(&"x".repeat(4096)));
    let app = app_with(s3.vars("s3://backgrounds/huge.png"))
        .env("BACKGROUND_MAX_BYTES", "1000")
        .spawn()
        .await;
    assert_gives_up(&app, "too_large", &["BACKGROUND_MAX_BYTES=1000"]).await;
}

#[tokio::test]
async fn a_url_in_no_accepted_form_is_named_with_the_accepted_forms() {
    let (logs, _guard) = Logs::capture();
    let app = TestApp::builder(Backend::Sqlite)
        .env("BACKGROUND_IMAGE_URL", "ftp://backgrounds/bg.jpg")
        .spawn()
        .await;
    assert_gives_up(
        &app,
        "invalid_url",
        &["ftp://backgrounds/bg.jpg", "s3://BUCKET/KEY"],
    )
    .await;
    assert_eq!(
        logs.lines_with("background image failed: invalid URL")
            .len(),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn no_url_means_the_colour_and_no_worker() {
    let app = TestApp::builder(Backend::Sqlite).spawn().await;
    let status = status(&app).await;
    assert_eq!(status["state"], "none", "{status:#}");
    assert!(status["source"].is_null() && status["image"].is_null());
    assert_colour_only(&app).await;
}

#[tokio::test]
async fn an_endpoint_that_never_answers_does_not_delay_serving() {
    let endpoint = format!("http://127.0.0.1:{}", silent_listener().await);
    let started = Instant::now();
    let app = app_with(client_vars(
        &endpoint,
        "s3://backgrounds/bg.jpg",
        SECRET_KEY,
    ))
    .env("BACKGROUND_FETCH_TIMEOUT_SECS", "2")
    .spawn()
    .await;
    // Ready, and serving pages with the colour, while the fetch is still waiting.
    app.get("/readyz").await.assert(200, "ready");
    assert_colour_only(&app).await;
    assert_eq!(status(&app).await["state"], "fetching");

    assert_gives_up(&app, "timeout", &[]).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_replaced_object_is_shown_after_a_refresh_without_a_restart() {
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "bg.png", &png("first"));
    let app = app_with(s3.vars("s3://backgrounds/bg.png"))
        .env("BACKGROUND_REFRESH_SECS", "1")
        .spawn()
        .await;
    let first = wait_for_state(&app, "ready").await;
    let first_path = first["image"]["path"].as_str().unwrap().to_owned();

    // Unchanged: the re-check is answered 304 and nothing is downloaded again.
    let gets = s3.gets();
    let rechecked = wait_for(&app, "re-checked", |s| {
        s["last_checked_at"] != first["last_checked_at"]
    })
    .await;
    assert!(s3.gets() > gets);
    assert_eq!(
        rechecked["image"], first["image"],
        "a 304 keeps the image as it was"
    );

    s3.put("backgrounds", "bg.png", &png("second"));
    let second = wait_for(&app, "showing the new object", |s| {
        s["image"]["path"] != first_path.as_str()
    })
    .await;
    assert_eq!(second["state"], "ready");
    let second_path = second["image"]["path"].as_str().unwrap().to_owned();
    let page = app.get("/").await;
    assert_eq!(background_src(&page), Some(second_path.clone()));
    let (code, _, body) = app.get_bytes(&second_path).await;
    assert_eq!((code, body), (200, png("second")));
    // A page rendered just before the switch can still load the previous image.
    assert_eq!(app.get_bytes(&first_path).await.0, 200);

    s3.put("backgrounds", "bg.png", &png("third"));
    wait_for(&app, "showing the third object", |s| {
        s["image"]["path"] != second_path.as_str()
    })
    .await;
    assert_eq!(app.get_bytes(&second_path).await.0, 200);
    app.get(&first_path).await.assert(404, "theme-lime");
}

/// Writes `url` into `dir/url` the way the kubelet updates a ConfigMap volume: a new
/// timestamped folder, then an atomic swap of the `..data` symlink.
fn write_configmap(dir: &Path, version: u32, url: &str) {
    let folder = format!("..version_{version}");
    std::fs::create_dir(dir.join(&folder)).unwrap();
    std::fs::write(dir.join(&folder).join("url"), url).unwrap();
    std::os::unix::fs::symlink(&folder, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    if !dir.join("url").exists() {
        std::os::unix::fs::symlink("..data/url", dir.join("url")).unwrap();
    }
}

#[tokio::test]
async fn a_changed_url_file_is_followed_without_a_restart() {
    let s3 = S3Server::start().await;
    s3.put("backgrounds", "a.png", &png("a"));
    s3.put("backgrounds", "b.png", &png("b"));
    s3.put("backgrounds", "env.png", &png("env"));
    let configmap = tempfile::tempdir().unwrap();
    write_configmap(configmap.path(), 1, "s3://backgrounds/a.png\n");

    let app = app_with(s3.vars("s3://backgrounds/env.png"))
        .env(
            "BACKGROUND_IMAGE_URL_FILE",
            &configmap.path().join("url").display().to_string(),
        )
        .env("BACKGROUND_URL_FILE_POLL_MS", "50")
        .env("BACKGROUND_REFRESH_SECS", "0")
        .spawn()
        .await;

    // The file wins over the variable.
    let shown = wait_for(&app, "showing a.png", |s| s["image"]["key"] == "a.png").await;
    assert_eq!(shown["source"]["from"], "BACKGROUND_IMAGE_URL_FILE");

    write_configmap(configmap.path(), 2, "s3://backgrounds/b.png");
    let shown = wait_for(&app, "showing b.png", |s| {
        s["image"]["key"] == "b.png" && s["state"] == "ready"
    })
    .await;
    let path = shown["image"]["path"].as_str().unwrap();
    assert_eq!(background_src(&app.get("/").await).as_deref(), Some(path));
    assert_eq!(app.get_bytes(path).await.2, png("b"));

    // An empty file means no image.
    write_configmap(configmap.path(), 3, "");
    wait_for_state(&app, "none").await;
    assert_colour_only(&app).await;

    // No file at all: the variable applies.
    std::fs::remove_file(configmap.path().join("url")).unwrap();
    let shown = wait_for(&app, "showing env.png", |s| s["image"]["key"] == "env.png").await;
    assert_eq!(shown["source"]["from"], "BACKGROUND_IMAGE_URL");
}
