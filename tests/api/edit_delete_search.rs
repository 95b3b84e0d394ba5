//! Correcting, removing and finding employees: the edit form and its conflicts, delete
//! with confirmation, search, and the audit log line of every change.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::on_both_backends;
use crate::support::http::{Http, header};
use crate::support::mariadb::{TestDatabase, shared_server};
use crate::support::process::Running;
use crate::support::{Backend, Page, StoredEmployee, TestApp, spawn_app};

const ADA: [&str; 5] = ["5", "Ada", "Lovlace", "Mathematics", "London"];

fn stored(values: [&str; 5]) -> StoredEmployee {
    let [emp_id, first_name, last_name, primary_skill, location] = values.map(str::to_owned);
    StoredEmployee {
        emp_id: emp_id.parse().expect("a numeric ID"),
        first_name,
        last_name,
        primary_skill,
        location,
    }
}

async fn add(app: &TestApp, values: [&str; 5]) {
    let [emp_id, first, last, skill, location] = values;
    app.add_employee(emp_id, first, last, skill, location)
        .await
        .assert(200, "was added");
}

async fn the_edit_form_shows_the_stored_values_and_saves_a_correction(backend: Backend) {
    let app = spawn_app(backend).await;
    add(&app, ADA).await;
    let details = app.get("/employees/5").await;
    details
        .assert(200, r#"href="/employees/5/edit""#)
        .assert(200, r#"href="/employees/5/delete""#);

    let form = app.get("/employees/5/edit").await;
    form.assert(200, "Edit employee")
        .assert(200, r#"action="/employees/5/edit""#)
        .assert(200, r#"value="Lovlace""#)
        .assert(200, r#"<label for="last_name">Last name</label>"#)
        .assert(200, r#"value="5" readonly"#);
    assert_eq!(form.version(), "1");

    let fixed = ["5", "Ada", "Lovelace", "Mathematics", "London"];
    app.edit_employee("5", "1", fixed).await.assert(
        200,
        "Ada Lovelace</strong> (ID 5) was saved. Changed: Last name.",
    );
    assert_eq!(app.stored_employees().await, vec![stored(fixed)]);
    app.fetch("5")
        .await
        .assert(200, r#"<dd id="last_name">Lovelace</dd>"#);
    assert_eq!(app.get("/employees/5/edit").await.version(), "2");

    // Saving the unchanged form is fine, and writes nothing.
    app.edit_employee("5", "2", fixed)
        .await
        .assert(200, "Nothing had changed");
    assert_eq!(app.get("/employees/5/edit").await.version(), "2");

    // A change of case alone is a change (MySQL's columns compare case-insensitively).
    let shouted = ["5", "ADA", "Lovelace", "Mathematics", "London"];
    app.edit_employee("5", "2", shouted)
        .await
        .assert(200, "Changed: First name.");

    // The ID comes from the address: the read-only field cannot move the employee.
    let moved = ["99", "Ada", "Lovelace", "Mathematics", "London"];
    app.edit_employee("5", "3", moved)
        .await
        .assert(200, "(ID 5)");
    assert_eq!(app.stored_ids().await, vec![5]);
}

async fn an_invalid_edit_is_a_422_that_keeps_what_was_typed(backend: Backend) {
    let app = spawn_app(backend).await;
    add(&app, ADA).await;
    let long = "é".repeat(65);
    let page = app
        .edit_employee("5", "1", ["5", " ", "Lovelace", "Maths", &long])
        .await;
    page.assert(422, "please correct the 2 fields")
        .assert(422, "First name is required")
        .assert(422, r#"id="first_name-error""#)
        .assert(422, "Location must be at most 64 characters (it has 65)")
        .assert(422, r#"id="location-error""#)
        .assert(422, r#"value="Lovelace""#)
        .assert(422, &format!(r#"value="{long}""#))
        .assert(422, r#"action="/employees/5/edit""#);
    assert_eq!(page.version(), "1", "the form keeps its version");
    assert_eq!(app.stored_employees().await, vec![stored(ADA)]);

    // A form without its version (or a made-up one) cannot be checked for conflicts.
    for version in ["", "0", "x", "99999999999999999999"] {
        app.edit_employee("5", version, ADA)
            .await
            .assert(400, "The form could not be read");
    }
    assert_eq!(app.stored_employees().await, vec![stored(ADA)]);
}

async fn a_stale_edit_is_a_409_that_shows_both_versions_and_can_be_reapplied(backend: Backend) {
    let app = spawn_app(backend).await;
    add(&app, ADA).await;
    // Two people open the edit form; the first saves.
    let theirs = ["5", "Ada", "Lovelace", "Mathematics", "Paris"];
    app.edit_employee("5", "1", theirs)
        .await
        .assert(200, "Changed: Last name, Location.");

    // Someone who made the very same change loses nothing: saved, nothing to write.
    app.edit_employee("5", "1", theirs)
        .await
        .assert(200, "Nothing had changed");

    // The second saves over the version they loaded: refused, both shown.
    let mine = ["5", "Augusta Ada", "Lovlace", "Mathematics", "London"];
    let conflict = app.edit_employee("5", "1", mine).await;
    conflict
        .assert(409, "Someone else changed this employee")
        .assert(409, "your changes were not saved")
        .assert(409, r#"<td id="yours-first_name">Augusta Ada</td>"#)
        .assert(409, r#"<td id="current-first_name">Ada</td>"#)
        .assert(409, r#"<td id="yours-location">London</td>"#)
        .assert(409, r#"<td id="current-location">Paris</td>"#)
        .assert(409, r#"class="differs""#)
        .assert(409, r#"value="Augusta Ada""#);
    assert_eq!(
        conflict.version(),
        "2",
        "the form now carries the stored version"
    );
    assert_eq!(app.stored_employees().await, vec![stored(theirs)]);

    // Saving the conflict page's form applies the second person's version after all.
    app.edit_employee("5", &conflict.version(), mine)
        .await
        .assert(200, "Augusta Ada Lovlace</strong> (ID 5) was saved");
    assert_eq!(app.stored_employees().await, vec![stored(mine)]);
}

/// Sends `request(http, i)` for each `i` below `n`, each on a connection of its own opened
/// beforehand, all released at once so that they overlap in the app; the pages in `i`
/// order.
async fn simultaneously<F, R>(app: &TestApp, n: usize, request: F) -> Vec<Page>
where
    F: Fn(Http, usize) -> R,
    R: Future<Output = Page> + Send + 'static,
{
    let start = Arc::new(Barrier::new(n));
    let mut requests = JoinSet::new();
    for i in 0..n {
        let http = Http::on_port(app.port);
        http.get("/healthz").await.assert(200, "ok");
        let start = start.clone();
        let send = request(http, i);
        requests.spawn(async move {
            start.wait().await;
            (i, send.await)
        });
    }
    let mut pages = requests.join_all().await;
    pages.sort_by_key(|(i, _)| *i);
    pages.into_iter().map(|(_, page)| page).collect()
}

/// Many people saving over the same version at the same moment: exactly one save wins,
/// every other one is told, and the row holds the winner's values.
async fn of_simultaneous_saves_over_one_version_exactly_one_wins(backend: Backend) {
    let app = spawn_app(backend).await;
    add(&app, ADA).await;
    let town = |i: usize| format!("Town {i}");
    let pages = simultaneously(&app, 12, |http, i| async move {
        http.edit_employee("5", "1", ["5", "Ada", "Lovlace", "Mathematics", &town(i)])
            .await
    })
    .await;
    let statuses: Vec<u16> = pages.iter().map(|page| page.status).collect();
    let winners: Vec<usize> = (0..pages.len()).filter(|i| statuses[*i] == 200).collect();
    assert_eq!(winners.len(), 1, "statuses: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(app.stored_employees().await[0].location, town(winners[0]));
    assert_eq!(app.get("/employees/5/edit").await.version(), "2");
}

/// Many clicks on Delete at once: one deletes and names the employee, the others say
/// there was nothing to delete.
async fn of_simultaneous_deletes_exactly_one_deletes(backend: Backend) {
    let app = spawn_app(backend).await;
    add(&app, ADA).await;
    let pages = simultaneously(&app, 8, |http, _| async move {
        http.post_form("/employees/5/delete", &[]).await
    })
    .await;
    let statuses: Vec<u16> = pages.iter().map(|page| page.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 404),
        "{statuses:?}"
    );
    assert!(app.stored_ids().await.is_empty());
}

async fn delete_asks_first_confirms_by_name_and_twice_is_harmless(backend: Backend) {
    let app = spawn_app(backend).await;
    add(&app, ADA).await;
    add(&app, ["6", "Grace", "Hopper", "Compilers", "Arlington"]).await;

    app.get("/employees/5/delete")
        .await
        .assert(200, "Delete this employee?")
        .assert(
            200,
            r#"<strong id="delete-name">Ada Lovlace</strong> (ID 5)"#,
        )
        .assert(200, r#"method="post" action="/employees/5/delete""#)
        .assert(200, r#"href="/employees/5">Cancel"#);
    assert_eq!(app.stored_ids().await, vec![5, 6], "asking deletes nothing");

    app.post_form("/employees/5/delete", &[])
        .await
        .assert(200, "Ada Lovlace</strong> (ID 5) was deleted");
    assert_eq!(app.stored_ids().await, vec![6]);

    // A second click, or a reload of the confirmation: a clear page, nothing else gone.
    app.post_form("/employees/5/delete", &[]).await.assert(
        404,
        "There is no employee with ID 5, so nothing was deleted",
    );
    assert_eq!(app.stored_ids().await, vec![6]);

    for path in [
        "/employees/5/delete",
        "/employees/999/delete",
        "/employees/5/edit",
        "/employees/abc/edit",
        "/employees/0/delete",
    ] {
        app.get(path).await.assert(404, "Employee Not Found");
    }
    app.post_form("/employees/abc/delete", &[])
        .await
        .assert(404, "Employee Not Found");
    app.edit_employee("5", "1", ADA)
        .await
        .assert(404, "There is no employee with ID 5");
    assert_eq!(app.stored_ids().await, vec![6]);
}

/// The employees the search tests look through.
const PEOPLE: [[&str; 5]; 9] = [
    ["1", "Émile", "Zola", "Writing", "Paris"],
    ["2", "Ada", "Lovelace", "Mathematics", "London"],
    ["3", "Grace", "Hopper", "COBOL", "Arlington"],
    ["4", "Alan", "Turing", "Mathematics", "Wilmslow"],
    ["5", "100%", "Sure", "Under_score", "A_B"],
    ["6", "1000", "Maybe", "Underscore", "AxB"],
    ["7", "Wow!", "Bang", "Exclaiming", "Nowhere"],
    ["8", "Søren", "Kierkegaard", "Philosophy", "København"],
    ["9", "Zoë", "Straße", "Ærodynamics", "Ísafjörður"],
];

/// The IDs listed on a result page, in order.
fn ids_listed(page: &Page) -> Vec<i64> {
    page.body
        .split(r#"<tr><td><a href="/employees/"#)
        .skip(1)
        .map(|row| {
            row.split('"')
                .next()
                .and_then(|id| id.parse().ok())
                .expect("an ID in a row's link")
        })
        .collect()
}

async fn search(app: &TestApp, q: &str) -> Page {
    app.get(&format!(
        "/employees?q={}",
        crate::support::http::urlencode(q)
    ))
    .await
}

async fn search_matches_the_start_of_each_field_ignoring_case_and_accents(backend: Backend) {
    let app = spawn_app(backend).await;
    for person in PEOPLE {
        add(&app, person).await;
    }
    let cases: &[(&str, &[i64])] = &[
        // Each field.
        ("gra", &[3]),
        ("lov", &[2]),
        ("cobol", &[3]),
        ("wilm", &[4]),
        ("math", &[2, 4]),
        // Case and accents do not matter, in either direction, beyond ASCII too.
        ("LOVE", &[2]),
        ("emile", &[1]),
        ("ÉMILE", &[1]),
        ("éMi", &[1]),
        ("ZOE", &[9]),
        ("zoë", &[9]),
        ("straße", &[9]),
        ("STRAßE", &[9]),
        ("ærod", &[9]),
        ("isafj", &[9]),
        ("søR", &[8]),
        ("københ", &[8]),
        // The start of a field, not any part of it.
        ("ace", &[]),
        ("ola", &[]),
        // Wildcards typed by a user are plain characters.
        ("100%", &[5]),
        ("%", &[]),
        ("_", &[]),
        ("Under_", &[5]),
        ("a_", &[5]),
        ("wow!", &[7]),
        ("!", &[]),
        // Surrounding spaces are ignored, as in the forms.
        ("  zola ", &[1]),
    ];
    for (q, expected) in cases {
        let page = search(&app, q).await;
        assert_eq!(page.status, 200, "{q:?}: {}", page.body);
        assert_eq!(&ids_listed(&page), expected, "search for {q:?}");
        if expected.is_empty() {
            page.assert(200, &format!("No employees match “{}”", q.trim()));
        } else {
            page.assert(
                200,
                &format!(
                    "Employees 1–{n} of {n} matching “{}”",
                    q.trim(),
                    n = expected.len()
                ),
            );
        }
    }
    // The box keeps the query, escaped.
    search(&app, "a\"<b")
        .await
        .assert(200, r#"id="q" name="q" type="search""#)
        .assert(200, r#"value="a&#34;&#60;b""#);
    // A blank search is the whole list.
    let all = search(&app, "   ").await;
    all.assert(200, "All employees");
    assert_eq!(ids_listed(&all), (1..=9).collect::<Vec<_>>());
}

async fn search_results_page_with_the_query_in_every_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let town = "Saint-Étienne & Co";
    for id in 1..=55 {
        add(
            &app,
            [
                &id.to_string(),
                &format!("Name{id}"),
                "Person",
                "Skill",
                town,
            ],
        )
        .await;
    }
    add(&app, ["56", "Other", "Person", "Skill", "Lyon"]).await;

    let first = search(&app, "saint-étienne &").await;
    first
        .assert(200, "Employees 1–50 of 55 matching “saint-étienne &#38;”")
        .assert(200, r#"value="saint-étienne &#38;""#);
    let next = "/employees?q=saint-%C3%A9tienne+%26&page=2";
    // In the page, the `&` between parameters is written as an HTML character reference.
    first.assert(
        200,
        &format!(r#"rel="next" href="{}""#, next.replace('&', "&#38;")),
    );
    assert_eq!(ids_listed(&first), (1..=50).collect::<Vec<_>>());

    let second = app.get(next).await;
    second.assert(200, "Employees 51–55 of 55 matching").assert(
        200,
        r#"rel="prev" href="/employees?q=saint-%C3%A9tienne+%26&#38;page=1""#,
    );
    assert_eq!(ids_listed(&second), (51..=55).collect::<Vec<_>>());
    assert!(!second.body.contains(r#"rel="next""#));

    app.get("/employees?q=saint&page=3")
        .await
        .assert(200, "There is no page 3 of the results: 55 employees match");
    for (path, message) in [
        (
            format!("/employees?q={}", "a".repeat(65)),
            "at most 64 characters",
        ),
        ("/employees?q=a%00b".to_owned(), "control characters"),
        ("/employees?q=saint&page=0".to_owned(), "whole number"),
    ] {
        app.get(&path).await.assert(400, message);
    }
}

/// The one log line of each change: its kind, the ID, the request's ID and the names of
/// the fields that changed, never their values. Read from the real binary's JSON logs,
/// as an operator's log collector would.
async fn every_change_is_one_audit_line_with_the_request_id(backend: Backend) {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::MariaDb => Some(TestDatabase::create(shared_server().await).await),
    };
    let mut vars = vec![("LOG_FORMAT", "json".to_owned())];
    if let Some(database) = &database {
        vars.extend(shared_server().await.app_vars(&database.name));
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = Running::start(&[], &vars).await;
    app.wait_until_ready(Duration::from_secs(20)).await;
    let request_id = |page: &Page| header(&page.headers, "x-request-id").to_owned();

    let added = app
        .add_employee("5", "Ada", "Lovlace", "Mathematics", "London")
        .await;
    added.assert(200, "was added");
    let fixed = ["5", "Ada", "Lovelace", "Maths", "London"];
    let updated = app.edit_employee("5", "1", fixed).await;
    updated.assert(200, "was saved");
    // Neither an unchanged save nor a refused one is a change.
    app.edit_employee("5", "2", fixed)
        .await
        .assert(200, "Nothing had changed");
    app.edit_employee("5", "1", ADA)
        .await
        .assert(409, "not saved");
    let deleted = app.post_form("/employees/5/delete", &[]).await;
    deleted.assert(200, "was deleted");
    app.post_form("/employees/5/delete", &[])
        .await
        .assert(404, "nothing was deleted");

    let logs = app.terminate().await.logs;
    let changes: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| {
            entry["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("employee "))
        })
        .collect();
    let all = "emp_id,first_name,last_name,primary_skill,location";
    let expected = [
        ("employee added", &added, all),
        ("employee updated", &updated, "last_name,primary_skill"),
        ("employee deleted", &deleted, all),
    ];
    assert_eq!(changes.len(), expected.len(), "{changes:#?}");
    for (entry, (event, page, fields)) in changes.iter().zip(expected) {
        assert_eq!(entry["message"], event, "{entry}");
        assert_eq!(entry["level"], "INFO", "{entry}");
        assert_eq!(entry["emp_id"], 5, "{entry}");
        assert_eq!(entry["fields"], fields, "{entry}");
        assert_eq!(
            entry["span"]["request_id"],
            request_id(page).as_str(),
            "{event} names the request that made it"
        );
        let text = entry.to_string();
        for value in ["Ada", "Lovlace", "Lovelace", "Math", "London"] {
            assert!(!text.contains(value), "a value in the log: {text}");
        }
    }
}

on_both_backends!(
    the_edit_form_shows_the_stored_values_and_saves_a_correction,
    an_invalid_edit_is_a_422_that_keeps_what_was_typed,
    a_stale_edit_is_a_409_that_shows_both_versions_and_can_be_reapplied,
    of_simultaneous_saves_over_one_version_exactly_one_wins,
    of_simultaneous_deletes_exactly_one_deletes,
    delete_asks_first_confirms_by_name_and_twice_is_harmless,
    search_matches_the_start_of_each_field_ignoring_case_and_accents,
    search_results_page_with_the_query_in_every_link,
    every_change_is_one_audit_line_with_the_request_id,
);
