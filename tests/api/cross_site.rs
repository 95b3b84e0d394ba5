//! Cross-site request protection: a form posted by a browser from another site is a 403
//! page that says why, and nothing is stored; the site's own forms and clients that are
//! not browsers (no `Sec-Fetch-Site`, no `Origin`) keep working.

use crate::support::http::employee_form;
use crate::support::{Backend, spawn_app};

/// Each header combination, and whether the add must be accepted.
const CASES: [(&[(&str, &str)], bool); 9] = [
    (&[], true),
    (&[("sec-fetch-site", "same-origin")], true),
    (&[("sec-fetch-site", "same-site")], true),
    (&[("sec-fetch-site", "none")], true),
    (&[("sec-fetch-site", "cross-site")], false),
    // Sec-Fetch-Site wins over Origin when both are sent.
    (
        &[("sec-fetch-site", "cross-site"), ("origin", "HOST")],
        false,
    ),
    (&[("origin", "HOST")], true),
    (&[("origin", "https://attacker.example")], false),
    (&[("origin", "null")], false),
];

#[tokio::test]
async fn forms_from_another_site_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app(Backend::Sqlite).await;
    let host = app.url("/").trim_end_matches('/').to_owned();
    let mut expected = Vec::new();
    for (id, (headers, accepted)) in (1..).zip(CASES) {
        let form = employee_form([&id.to_string(), "Ada", "Lovelace", "Maths", "London"]);
        let mut request = app.client.post(app.url("/addemp")).form(&form);
        for (name, value) in headers {
            let value = if *value == "HOST" {
                host.as_str()
            } else {
                value
            };
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if accepted {
            assert_eq!(status, 200, "{headers:?}: {body}");
            expected.push(id);
        } else {
            assert_eq!(status, 403, "{headers:?}");
            assert!(body.contains("Request refused"), "{headers:?}: {body}");
            assert!(body.contains("another site"), "{body}");
            assert!(body.contains("Test Group"), "a page in the layout: {body}");
        }
    }
    assert_eq!(app.stored_ids().await, expected);
    // Reading is never refused: a link from another site still opens the pages.
    let page = app
        .client
        .get(app.url("/employees/1"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}
