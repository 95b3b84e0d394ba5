//! OpenTelemetry traces, seen by an OTLP/HTTP receiver inside the test: the real binary
//! continues the caller's trace, its request span parents the database statement's
//! span, the request's log lines carry the trace id, and the last spans are sent at
//! shutdown. With tracing off nothing is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::support::process::Running;

/// What the receiver was sent: every span, and how many exports carried them.
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    exports: Arc<Mutex<usize>>,
}

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("spans").clone()
    }

    fn exports(&self) -> usize {
        *self.exports.lock().expect("exports")
    }
}

async fn export(State(received): State<Received>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    *received.exports.lock().expect("exports") += 1;
    let mut spans = received.spans.lock().expect("spans");
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            spans.extend(scope.spans);
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    Vec::new()
}

/// An OTLP/HTTP receiver on a free port; its base URL and what it receives.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(export))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn add_with_traceparent(app: &Running, emp_id: &str) -> u16 {
    let form = [
        ("emp_id", emp_id),
        ("first_name", "Grace"),
        ("last_name", "Hopper"),
        ("primary_skill", "Compilers"),
        ("location", "Arlington"),
    ];
    app.client
        .post(app.url("/addemp"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .form(&form)
        .send()
        .await
        .expect("POST /addemp")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_request_is_one_trace_from_the_caller_through_the_database_and_its_logs() {
    let (endpoint, received) = receiver().await;
    // The batch processor's default delay (5 s) is kept: the spans must arrive because
    // the shutdown sends them.
    let app = Running::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "employee-db-test"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .await;
    app.wait_until_ready(Duration::from_secs(20)).await;
    assert_eq!(add_with_traceparent(&app, "31").await, 200);
    let lookup = app
        .client
        .post(app.url("/fetchdata"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .form(&[("emp_id", "31")])
        .send()
        .await
        .expect("POST /fetchdata");
    assert_eq!(lookup.status(), 200);
    let exit = app.terminate().await;
    assert_eq!(exit.code, Some(0), "{}", exit.logs);

    let spans = received.spans();
    // A lookup is answered by a reader task, outside the request's task: its query is
    // still a child of the request that asked for it.
    let fetch = spans
        .iter()
        .find(|s| s.name == "POST /fetchdata")
        .unwrap_or_else(|| panic!("no lookup request span in {:#?}", names(&spans)));
    assert!(
        spans
            .iter()
            .any(|s| s.name == "lookup_batch" && s.parent_span_id == fetch.span_id),
        "{:#?}",
        names(&spans)
    );
    let request = spans
        .iter()
        .find(|s| s.name == "POST /addemp")
        .unwrap_or_else(|| panic!("no request span in {:#?}", names(&spans)));
    assert_eq!(
        hex(&request.trace_id),
        CALLER_TRACE,
        "the caller's trace continues"
    );
    assert_eq!(
        hex(&request.parent_span_id),
        CALLER_SPAN,
        "under the caller's span"
    );
    let statement = spans
        .iter()
        .find(|s| s.parent_span_id == request.span_id)
        .unwrap_or_else(|| panic!("no span under the request in {:#?}", names(&spans)));
    assert_eq!(statement.trace_id, request.trace_id);
    assert!(
        statement.name.contains("insert"),
        "the database statement's span: {}",
        statement.name
    );

    // Every log line of the request names the trace; other requests' lines (the
    // readiness probe's) name their own.
    let in_requests: Vec<serde_json::Value> = exit
        .logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| line["span"]["request_id"].is_string())
        .collect();
    assert!(
        in_requests.iter().all(|line| line["span"]["trace_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32)),
        "{}",
        exit.logs
    );
    let lines: Vec<&serde_json::Value> = in_requests
        .iter()
        .filter(|line| line["span"]["path"] == "/addemp")
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"employee added") && messages.contains(&"request"),
        "{messages:?}\n{}",
        exit.logs
    );
    for line in &lines {
        assert_eq!(line["span"]["trace_id"], CALLER_TRACE, "{line}");
    }
}

#[tokio::test]
async fn without_tracing_nothing_is_sent_and_logs_carry_no_trace() {
    let (endpoint, received) = receiver().await;
    // An endpoint, but the standard switch turns the SDK off.
    let app = Running::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SDK_DISABLED", "true"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .await;
    app.wait_until_ready(Duration::from_secs(20)).await;
    assert_eq!(add_with_traceparent(&app, "32").await, 200);
    let exit = app.terminate().await;
    assert_eq!(exit.code, Some(0), "{}", exit.logs);

    assert_eq!(received.exports(), 0, "{:#?}", names(&received.spans()));
    assert!(exit.logs.contains("employee added"), "{}", exit.logs);
    assert!(!exit.logs.contains("trace_id"), "{}", exit.logs);
}

fn names(spans: &[Span]) -> Vec<(String, String, String)> {
    spans
        .iter()
        .map(|s| (s.name.clone(), hex(&s.span_id), hex(&s.parent_span_id)))
        .collect()
}
