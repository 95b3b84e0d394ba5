//! Cross-site request protection: a form posted by a browser from another site (adding,
//! editing or deleting) is a 403 page that says why, and nothing is changed; the site's
//! own forms and clients that are not browsers (no `Sec-Fetch-Site`, no `Origin`) keep
//! working.

use employee_db::employee::VERSION_FIELD;

use crate::support::http::employee_form;
use crate::support::{Backend, TestApp, spawn_app};

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

/// Posts `form` to `path` with `headers` ("HOST" stands for the app's own origin).
async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, String)],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let origin = app.url("/").trim_end_matches('/').to_owned();
    let mut request = app.client.post(app.url(path)).form(form);
    for (name, value) in headers {
        let value = if *value == "HOST" { &origin } else { *value };
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[track_caller]
fn assert_refused(status: u16, body: &str, what: &str) {
    assert_eq!(status, 403, "{what}");
    assert!(body.contains("Request refused"), "{what}: {body}");
    assert!(body.contains("another site"), "{body}");
    assert!(body.contains("Test Group"), "a page in the layout: {body}");
}

#[tokio::test]
async fn forms_from_another_site_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut expected = Vec::new();
    for (id, (headers, accepted)) in (1..).zip(CASES) {
        let form = employee_form([&id.to_string(), "Ada", "Lovelace", "Maths", "London"]);
        let (status, body) = post(&app, "/addemp", &form, headers).await;
        if accepted {
            assert_eq!(status, 200, "{headers:?}: {body}");
            expected.push(id);
        } else {
            assert_refused(status, &body, &format!("{headers:?}"));
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

/// The layer covers every POST route: editing and deleting too.
#[tokio::test]
async fn edits_and_deletes_from_another_site_are_refused_and_change_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_employee("1", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "was added");
    let before = app.stored_employees().await;
    let mut edit = employee_form(["1", "Eve", "Intruder", "Phishing", "Elsewhere"]);
    edit.push((VERSION_FIELD, "1".to_owned()));
    let requests = [
        ("/employees/1/edit", edit.clone()),
        ("/employees/1/delete", vec![]),
    ];
    for (path, form) in &requests {
        for (headers, _) in CASES.iter().filter(|(_, accepted)| !accepted) {
            let (status, body) = post(&app, path, form, headers).await;
            assert_refused(status, &body, &format!("{path} {headers:?}"));
        }
    }
    assert_eq!(app.stored_employees().await, before, "nothing changed");

    // The site's own forms, as a browser sends them, work.
    let (status, body) = post(
        &app,
        "/employees/1/edit",
        &edit,
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Eve Intruder"), "{body}");
    let (status, body) = post(&app, "/employees/1/delete", &[], &[("origin", "HOST")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(app.stored_ids().await.is_empty());
}
