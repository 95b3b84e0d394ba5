//! Cross-site request protection: a browser never submits a form to this app on behalf
//! of another site. Browsers say where a request comes from (`Sec-Fetch-Site`, or the
//! older `Origin`), so no token is needed; clients that send neither (curl, scripts,
//! the operator scripts) are not browsers acting for another site, and keep working.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::AppError;

/// Refuses a state-changing request that a browser sent from another site.
pub async fn refuse_cross_site_writes(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && let Err(reason) = same_site(request.headers()) {
        return AppError::CrossSiteRequest(reason).into_response();
    }
    next.run(request).await
}

/// Whether the headers show a request from this site (or from no browser page at all).
fn same_site(headers: &HeaderMap) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        // Every current browser sends it: `same-origin`, `same-site`, `none` (typed or
        // bookmarked) or `cross-site`.
        return match site.as_bytes() {
            b"cross-site" => Err("Sec-Fetch-Site: cross-site"),
            _ => Ok(()),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    // Older browsers: the page's origin must name this host (and port). The scheme is
    // not compared: behind a load balancer that terminates TLS the app sees plain HTTP.
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(from), Some(host)) if authority_matches(from, host) => Ok(()),
        _ => Err("Origin does not match Host"),
    }
}

/// Compares two `host[:port]` forms, ignoring case and a default port.
fn authority_matches(origin: &str, host: &str) -> bool {
    let strip = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(":80").or_else(|| a.strip_suffix(":443")) {
            Some(bare) => bare.to_owned(),
            None => a,
        }
    };
    strip(origin) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    header::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        for allowed in ["same-origin", "same-site", "none"] {
            let h = headers(&[
                ("sec-fetch-site", allowed),
                ("origin", "https://evil.example"),
            ]);
            assert_eq!(same_site(&h), Ok(()), "{allowed}");
        }
        let h = headers(&[("sec-fetch-site", "cross-site"), ("host", "app.example")]);
        assert!(same_site(&h).is_err());
    }

    #[test]
    fn without_it_the_origin_must_name_the_host() {
        let ok = headers(&[
            ("origin", "https://App.example"),
            ("host", "app.example:443"),
        ]);
        assert_eq!(same_site(&ok), Ok(()));
        let port = headers(&[
            ("origin", "http://localhost:8080"),
            ("host", "localhost:8080"),
        ]);
        assert_eq!(same_site(&port), Ok(()));
        for (origin, host) in [
            ("https://evil.example", "app.example"),
            ("null", "app.example"),
            ("http://localhost:9090", "localhost:8080"),
        ] {
            let h: HeaderMap = [
                (header::ORIGIN, origin.parse().unwrap()),
                (header::HOST, host.parse().unwrap()),
            ]
            .into_iter()
            .collect();
            assert!(same_site(&h).is_err(), "{origin} vs {host}");
        }
        assert_eq!(same_site(&headers(&[("host", "app.example")])), Ok(()));
    }
}
