//! `/metrics`: on its own listener only, counting exactly the requests made, by route
//! template and status class; and every metric the Grafana dashboard queries exists.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Backend, TestApp};

/// A scrape of the text format: each sample by its name and labels.
struct Scrape {
    text: String,
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
            let value: f64 = value.parse().expect("a numeric value");
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let labels = body
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            samples.insert((name.to_owned(), labels), value);
        }
        Scrape { text, samples }
    }

    /// The sample `name{labels}`, 0 when absent (a counter not yet incremented).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    fn has(&self, name: &str) -> bool {
        self.samples.keys().any(|(n, _)| n == name)
    }

    /// Every sample name a query may use: those present, and those a declared family
    /// yields (a labelled family shows no sample before its first observation).
    fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.samples.keys().map(|(n, _)| n.clone()).collect();
        for line in self.text.lines() {
            let Some(declared) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let (name, kind) = declared.split_once(' ').expect("# TYPE name kind");
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        }
        names
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let metrics = app.metrics.as_ref().expect("metrics are on");
    let page = metrics.get("/metrics").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-type")
            .starts_with("application/openmetrics-text"),
        "{}",
        page.header("content-type")
    );
    Scrape::parse(page.body)
}

const REQUESTS: &str = "http_requests_total";

fn requests(method: &str, route: &str, status: &str) -> [(&'static str, String); 3] {
    [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_owned()),
    ]
}

fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, String)]) -> f64 {
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    after.value(name, &labels) - before.value(name, &labels)
}

#[tokio::test]
async fn counters_equal_the_requests_made_by_route_template_and_status() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_metrics()
        .spawn()
        .await;
    let before = scrape(&app).await;

    for _ in 0..3 {
        app.get("/").await.assert(200, "Employee");
    }
    app.get("/employees/404404").await.assert(404, "");
    app.add_employee("4242", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(200, "Ada");
    app.add_employee("4242", "Ada", "Lovelace", "Maths", "London")
        .await
        .assert(409, "already exists");
    app.get("/employees/4242").await.assert(200, "Lovelace");
    app.fetch("4242").await.assert(200, "Lovelace");
    app.get("/no/such/page").await.assert(404, "");
    app.get("/static/app.css").await.assert(200, "");

    let after = scrape(&app).await;
    let expected = [
        (requests("GET", "/", "2xx"), 3.0),
        (requests("GET", "/employees/{emp_id}", "4xx"), 1.0),
        (requests("GET", "/employees/{emp_id}", "2xx"), 1.0),
        (requests("POST", "/addemp", "2xx"), 1.0),
        (requests("POST", "/addemp", "4xx"), 1.0),
        (requests("POST", "/fetchdata", "2xx"), 1.0),
        (requests("GET", "unmatched", "4xx"), 1.0),
    ];
    for (labels, count) in &expected {
        assert_eq!(
            delta(&before, &after, REQUESTS, labels),
            *count,
            "{labels:?}\n{}",
            after.text
        );
    }
    // The raw path never becomes a label, and a static file is counted under its mount.
    assert!(!after.text.contains("404404"), "{}", after.text);
    assert!(!after.text.contains("/no/such/page"), "{}", after.text);
    let static_route = after
        .samples
        .keys()
        .filter(|(name, _)| name == REQUESTS)
        .filter_map(|(_, labels)| labels.get("route"))
        .find(|route| route.starts_with("/static"))
        .expect("the static file's route");
    assert_eq!(static_route, "/static/{*path}");

    // The latency histogram observed each request of the route, in order of its buckets.
    let route = [("route", "/")];
    let count = |s: &Scrape| s.value("http_request_duration_seconds_count", &route);
    assert_eq!(count(&after) - count(&before), 3.0);
    assert!(after.value("http_request_duration_seconds_sum", &route) > 0.0);
    let inf = after.value(
        "http_request_duration_seconds_bucket",
        &[("route", "/"), ("le", "+Inf")],
    );
    let fastest = after.value(
        "http_request_duration_seconds_bucket",
        &[("route", "/"), ("le", "0.00025")],
    );
    assert_eq!(inf, count(&after));
    assert!(fastest <= inf);

    // Business events, and the queries behind them.
    assert_eq!(delta(&before, &after, "employees_added_total", &[]), 1.0);
    let lookups = |result: &str| [("result", result.to_owned())];
    assert_eq!(
        delta(&before, &after, "employee_lookups_total", &lookups("found")),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "employee_lookups_total",
            &lookups("not_found")
        ),
        1.0
    );

    // The database: each statement timed, the taken ID counted as a duplicate, and the
    // three lookups answered by the readers' batched query.
    let statement = |name: &str| [("statement", name.to_owned())];
    let queries = |name| {
        delta(
            &before,
            &after,
            "db_query_duration_seconds_count",
            &statement(name),
        )
    };
    assert_eq!(queries("insert"), 2.0);
    assert!(queries("lookup_batch") >= 1.0, "{}", after.text);
    assert_eq!(
        delta(
            &before,
            &after,
            "db_pool_acquire_duration_seconds_count",
            &statement("insert")
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "db_errors_total",
            &[("kind", "duplicate".to_owned())]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "db_errors_total",
            &[("kind", "unavailable".to_owned())]
        ),
        0.0
    );
    assert_eq!(delta(&before, &after, "db_lookup_batch_size_sum", &[]), 3.0);

    // The rest of the catalogue: pool, background, process, build.
    assert!(after.value("db_pool_max_connections", &[]) >= 1.0);
    assert!(after.has("db_pool_connections") && after.has("db_pool_idle_connections"));
    assert_eq!(after.value("background_state", &[("state", "none")]), 1.0);
    assert_eq!(after.value("background_state", &[("state", "ready")]), 0.0);
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(after.value(name, &[]) > 0.0, "{name}\n{}", after.text);
    }
    assert!(
        after
            .samples
            .keys()
            .any(|(name, labels)| name == "build_info"
                && labels.get("version").map(String::as_str) == Some(env!("CARGO_PKG_VERSION"))
                && labels.contains_key("git_sha")),
        "{}",
        after.text
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_port_only() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_metrics()
        .spawn()
        .await;
    let metrics = app.metrics.as_ref().expect("metrics are on");
    assert_ne!(metrics.port, app.port);

    // The public port has no /metrics, and the metrics port nothing but /metrics.
    app.get("/metrics").await.assert(404, "");
    for path in ["/", "/healthz", "/readyz", "/employees", "/metrics/"] {
        let page = metrics.get(path).await;
        assert_eq!(
            page.status, 404,
            "{path} on the metrics port: {}",
            page.body
        );
    }
    let page = metrics.post_form("/metrics", &[("emp_id", "1")]).await;
    assert_eq!(page.status, 405);

    // Scrapes are not requests of the app: they are not counted.
    scrape(&app).await;
    let after = scrape(&app).await;
    assert!(!after.text.contains("route=\"/metrics\""), "{}", after.text);
}

#[tokio::test]
async fn metrics_off_means_no_listener() {
    let app = TestApp::builder(Backend::Sqlite).spawn().await;
    assert!(app.metrics.is_none());
    app.get("/metrics").await.assert(404, "");
}

/// Every metric the Grafana dashboard queries is one the app exposes: a renamed metric
/// fails here, not on an operator's empty panel.
#[tokio::test]
async fn the_dashboard_queries_only_metrics_the_app_exposes() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_metrics()
        .spawn()
        .await;
    // Requests that touch every kind of series: labelled ones appear with their first
    // observation.
    app.get("/").await.assert(200, "");
    app.add_employee("7", "Grace", "Hopper", "Compilers", "Arlington")
        .await
        .assert(200, "Grace");
    app.fetch("7").await.assert(200, "Hopper");
    app.get("/employees").await.assert(200, "Hopper");
    let exposed = scrape(&app).await.names();

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/employee-db.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard"))
            .expect("the dashboard is JSON");
    let mut queries = Vec::new();
    collect_expressions(&dashboard, &mut queries);
    assert!(queries.len() >= 10, "{queries:?}");

    let mut used = BTreeSet::new();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "no metric in {query}");
        used.extend(names);
    }
    let missing: Vec<_> = used.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which the app does not expose"
    );
    // The panels the dashboard promises.
    for name in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "db_pool_max_connections",
        "background_state",
    ] {
        assert!(used.contains(name), "the dashboard does not query {name}");
    }
}

fn collect_expressions(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => into.push(expr.clone()),
                    _ => collect_expressions(value, into),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_expressions(v, into)),
        _ => {}
    }
}

/// The metric names in a PromQL expression: identifiers that are not function calls,
/// keywords, numbers, label names (in `{...}` and in `by (...)`), durations (`[5m]`) or
/// Grafana variables (`$job`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 23] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut labels_until_close = false;
    let mut i = 0;
    // Skips to just past the first `close` from `from`, minding quoted strings.
    let skip_past = |from: usize, close: char| {
        let mut j = from;
        let mut quoted = false;
        while j < chars.len() {
            match chars[j] {
                '"' => quoted = !quoted,
                c if c == close && !quoted => return j + 1,
                _ => {}
            }
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_past(i, '}');
        } else if c == '[' {
            i = skip_past(i, ']');
        } else if c == '"' {
            i = skip_past(i + 1, '"');
        } else if c == ')' {
            labels_until_close = false;
            i += 1;
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            // A variable or a number: to the end of the word.
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.')) {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | ':')) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if LABEL_LISTS.contains(&ident.as_str()) {
                labels_until_close = next == Some(&'(');
            } else if KEYWORDS.contains(&ident.as_str()) || next == Some(&'(') || labels_until_close
            {
                // A keyword, a function, or a label name in a `by (...)` list.
            } else {
                names.insert(ident);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_promql() {
    let names = |expr| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{job=~"$job", route!="x{y}"}[$__rate_interval])))"#
        ),
        ["http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        names("sum by (pod) (a_total - b) / on (pod) group_left c and time() - 1.5e3"),
        ["a_total", "b", "c"]
    );
}
