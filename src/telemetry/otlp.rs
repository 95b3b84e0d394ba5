//! The trace pipeline: a batch span processor sending OTLP/HTTP protobuf through a small
//! client on the app's own Tokio runtime (hyper, already in the app for serving) rather
//! than a second HTTP stack. Plain HTTP: spans go to a collector or agent nearby.

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Handle;

use crate::config::TracingSettings;

/// The collector answers an export with a small status message; anything this large is
/// not one.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names it.
const DEFAULT_SERVICE_NAME: &str = "employee-db";

/// Builds the tracer provider. The SDK reads the sampler (`OTEL_TRACES_SAMPLER`, `..._ARG`,
/// parent-based always-on by default), the batch settings (`OTEL_BSP_*`), the export
/// headers and the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) itself.
pub fn provider(
    endpoint: &str,
    settings: &TracingSettings,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(settings.export_timeout)
        .with_http_client(TokioClient::new(settings.export_timeout))
        .build()?;
    let mut resource = Resource::builder();
    let named = Resource::builder()
        .build()
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if !named {
        resource = resource.with_service_name(DEFAULT_SERVICE_NAME);
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", crate::metrics::VERSION))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Sends each export on the app's runtime. The batch processor calls the exporter from
/// a thread of its own, outside the runtime, so the request is spawned onto the runtime
/// captured at start and awaited from there.
#[derive(Debug, Clone)]
struct TokioClient {
    client: Client<HttpConnector, Full<Bytes>>,
    runtime: Handle,
    timeout: Duration,
}

impl TokioClient {
    fn new(timeout: Duration) -> TokioClient {
        TokioClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            runtime: Handle::current(),
            timeout,
        }
    }
}

#[async_trait]
impl HttpClient for TokioClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Full::new(body));
        let exchange = async move {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        self.runtime
            .spawn(async move {
                tokio::time::timeout(timeout, exchange)
                    .await
                    .map_err(|_| HttpError::from(format!("no answer within {timeout:?}")))?
            })
            .await?
    }
}
