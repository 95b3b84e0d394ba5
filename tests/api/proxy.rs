//! Behind a load balancer that terminates TLS: `Strict-Transport-Security` only when the
//! balancer says the client used HTTPS, and pages whose links keep the client's scheme.

use crate::support::{Backend, spawn_app};

#[tokio::test]
async fn hsts_is_sent_only_when_the_balancer_says_the_client_used_https() {
    let app = spawn_app(Backend::Sqlite).await;
    let over_tls = app
        .client
        .get(app.url("/"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 200);
    assert_eq!(
        over_tls.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    for proto in [None, Some("http")] {
        let mut request = app.client.get(app.url("/about"));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        let plain = request.send().await.unwrap();
        assert_eq!(plain.status(), 200);
        assert!(
            !plain.headers().contains_key("strict-transport-security"),
            "HSTS over plain HTTP ({proto:?})"
        );
    }
}

/// The app builds no absolute URL and makes no redirect: every link, form action and
/// asset is a path, so a page served over HTTPS by the balancer never points at HTTP.
#[tokio::test]
async fn pages_link_by_path_so_they_keep_the_clients_scheme() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_employee("7", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    for path in [
        "/",
        "/getemp",
        "/about",
        "/employees",
        "/employees/7",
        "/nowhere",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert!(
            !response.status().is_redirection(),
            "{path}: {}",
            response.status()
        );
        let body = response.text().await.unwrap();
        for attribute in ["href=\"http", "src=\"http", "action=\"http"] {
            assert!(!body.contains(attribute), "{path}: absolute URL in {body}");
        }
        assert!(body.contains("href=\"/"), "{path}: no link at all?");
    }
}
