//! The download from S3: one client built on first use from aws-config's default chain,
//! a conditional GET, retries of transient failures with backoff inside one deadline,
//! a size limit enforced while reading, and every SDK error turned into a `Problem`.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::DateTimeFormat;
use tokio::time::Instant;
use tracing::Instrument;

use super::problem::{Category, Problem};
use super::url::ObjectLocation;
use crate::config::BackgroundConfig;
use crate::telemetry;

/// The object's bytes and what S3 said about them.
#[derive(Debug)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub declared_type: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    /// The ETag still matches: the cached image is current.
    NotModified,
    Object(Object),
}

pub struct S3Fetcher {
    config: BackgroundConfig,
    client: Option<Client>,
}

/// A failed attempt, and whether another one may succeed.
struct Attempt {
    problem: Problem,
    transient: bool,
}

impl S3Fetcher {
    pub fn new(config: &BackgroundConfig) -> S3Fetcher {
        S3Fetcher {
            config: config.clone(),
            client: None,
        }
    }

    /// Built once, on the first fetch, so a pod without S3 configured never loads AWS
    /// configuration. Retries are ours (below), so the SDK's are off.
    async fn client(&mut self) -> Client {
        if let Some(client) = &self.client {
            return client.clone();
        }
        let client = crate::s3::client(&self.config, RetryConfig::disabled()).await;
        self.client = Some(client.clone());
        client
    }

    /// Downloads `location`, or learns that `if_none_match` is still its ETag, within
    /// the configured time, retrying failures that may pass.
    pub async fn fetch(
        &mut self,
        location: &ObjectLocation,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, Problem> {
        let span = telemetry::client_span(|| {
            tracing::info_span!(
                "s3.get_object",
                otel.name = "S3 GetObject",
                otel.kind = "client",
                rpc.system = "aws-api",
                aws.s3.bucket = %location.bucket,
                aws.s3.key = %location.key,
            )
        });
        self.fetch_traced(location, if_none_match)
            .instrument(span)
            .await
    }

    async fn fetch_traced(
        &mut self,
        location: &ObjectLocation,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, Problem> {
        let started = Instant::now();
        let client = self.client().await;
        let region = location
            .region
            .as_deref()
            .unwrap_or(&self.config.aws_region);
        let mut attempts = 0u32;
        let mut last: Option<Problem> = None;
        let outcome = tokio::time::timeout_at(started + self.config.fetch_timeout, async {
            loop {
                attempts += 1;
                match self
                    .attempt(&client, location, region, if_none_match)
                    .await
                {
                    Ok(fetched) => return Ok(fetched),
                    Err(Attempt {
                        problem,
                        transient: false,
                    }) => return Err(problem),
                    Err(Attempt { problem, .. }) => {
                        tracing::debug!(attempt = attempts, error = %problem, detail = problem.detail.as_deref(), "background fetch failed; retrying");
                        last = Some(problem);
                        tokio::time::sleep(backoff(attempts)).await;
                    }
                }
            }
        })
        .await;
        outcome.unwrap_or_else(|_| {
            let seconds = self.config.fetch_timeout.as_secs();
            Err(match last {
                Some(mut problem) => {
                    problem.check =
                        format!("{} ({attempts} attempts in {seconds} s)", problem.check);
                    problem
                }
                None => Problem::new(
                    Category::Timeout,
                    format!(
                        "no answer from {} within {seconds} s: check the network path to S3 \
                         (NAT or VPC endpoint, NetworkPolicy egress, AWS_ENDPOINT_URL) or raise \
                         BACKGROUND_FETCH_TIMEOUT_SECS",
                        self.endpoint()
                    ),
                ),
            })
        })
    }

    fn endpoint(&self) -> String {
        self.config
            .aws_endpoint_url
            .clone()
            .unwrap_or_else(|| "Amazon S3".to_owned())
    }

    async fn attempt(
        &self,
        client: &Client,
        location: &ObjectLocation,
        region: &str,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, Attempt> {
        let sent = client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_if_none_match(if_none_match.map(str::to_owned))
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default().region(Region::new(region.to_owned())),
            )
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 304 => {
                return Ok(Fetched::NotModified);
            }
            Err(e) => return Err(self.classify(e, location, region)),
        };

        let too_large = |size: String| Attempt {
            problem: Problem::new(
                Category::TooLarge,
                format!(
                    "{location} is {size}, more than BACKGROUND_MAX_BYTES={}: upload a smaller \
                     image or raise the limit",
                    self.config.max_bytes
                ),
            ),
            transient: false,
        };
        let declared = output.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = declared.filter(|&size| size > self.config.max_bytes) {
            return Err(too_large(size_text(size)));
        }
        let etag = output.e_tag().map(str::to_owned);
        let last_modified = output
            .last_modified()
            .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok());
        let declared_type = output.content_type().map(str::to_owned);
        let mut body = output.body;
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    let size = (bytes.len() + chunk.len()) as u64;
                    if size > self.config.max_bytes {
                        // S3 announced less than it sent: stop reading.
                        return Err(too_large(format!(
                            "over {}",
                            size_text(self.config.max_bytes)
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Attempt {
                        problem: Problem::new(
                            Category::Unreachable,
                            format!("the download of {location} broke off"),
                        )
                        .with_detail(DisplayErrorContext(&e).to_string()),
                        transient: true,
                    });
                }
            }
        }
        Ok(Fetched::Object(Object {
            bytes,
            etag,
            last_modified,
            declared_type,
        }))
    }

    fn classify(
        &self,
        error: SdkError<GetObjectError>,
        location: &ObjectLocation,
        region: &str,
    ) -> Attempt {
        let detail = match &error {
            // The whole SDK error is a page of debug output; this is what S3 said.
            SdkError::ServiceError(service) => format!(
                "HTTP {} {}: {}",
                service.raw().status().as_u16(),
                service.err().code().unwrap_or("(no error code)"),
                service.err().message().unwrap_or("(no message)")
            ),
            other => DisplayErrorContext(other).to_string(),
        };
        let (category, check, transient) = match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code();
                let bucket = &location.bucket;
                match (code, status) {
                    (Some("NoSuchKey"), _) | (None, 404) => {
                        (Category::NoSuchKey, no_such_key(location), false)
                    }
                    (Some("NoSuchBucket"), _) => (
                        Category::NoSuchBucket,
                        format!(
                            "bucket {bucket} does not exist at {}: check the bucket name in \
                             the URL (and AWS_ENDPOINT_URL for an S3-compatible store)",
                            self.endpoint()
                        ),
                        false,
                    ),
                    (Some("SignatureDoesNotMatch"), _) => (
                        Category::AccessDenied,
                        "S3 rejected the request signature: check that AWS_SECRET_ACCESS_KEY \
                         belongs to AWS_ACCESS_KEY_ID"
                            .to_owned(),
                        false,
                    ),
                    (Some("InvalidAccessKeyId"), _) => (
                        Category::AccessDenied,
                        "S3 does not know the access key: check AWS_ACCESS_KEY_ID, or remove \
                         the keys so that the pod's IAM role is used"
                            .to_owned(),
                        false,
                    ),
                    (Some("ExpiredToken" | "InvalidToken" | "TokenRefreshRequired"), _) => (
                        Category::AccessDenied,
                        "the session credentials are expired or invalid: check \
                         AWS_SESSION_TOKEN or the role session"
                            .to_owned(),
                        false,
                    ),
                    (Some("AccessDenied" | "AllAccessDisabled"), _) | (None, 403) => (
                        Category::AccessDenied,
                        format!(
                            "check that the pod's IAM role (or the AWS keys) may s3:GetObject \
                             on arn:aws:s3:::{bucket}/{}, that the bucket policy allows it, and \
                             kms:Decrypt if the bucket uses SSE-KMS",
                            location.key
                        ),
                        false,
                    ),
                    (
                        Some(
                            "PermanentRedirect"
                            | "AuthorizationHeaderMalformed"
                            | "IllegalLocationConstraintException",
                        ),
                        _,
                    )
                    | (None, 301) => {
                        let actual = service
                            .raw()
                            .headers()
                            .get("x-amz-bucket-region")
                            .map(str::to_owned);
                        let check = match actual {
                            Some(actual) => format!(
                                "bucket {bucket} is in {actual}, not {region}: set \
                                 AWS_REGION={actual} or use https://{bucket}.s3.{actual}.amazonaws.com/KEY"
                            ),
                            None => format!(
                                "bucket {bucket} is not in {region}: set AWS_REGION to the \
                                 bucket's region or name it in the URL"
                            ),
                        };
                        (Category::WrongRegion, check, false)
                    }
                    (Some("RequestTimeTooSkewed"), _) => (
                        Category::AccessDenied,
                        "S3 says the clock is wrong: check the node's time synchronisation"
                            .to_owned(),
                        false,
                    ),
                    (Some("InvalidObjectState"), _) => (
                        Category::S3Error,
                        format!("{location} is archived: restore it or upload a copy"),
                        false,
                    ),
                    (code, status) => (
                        Category::S3Error,
                        format!(
                            "S3 answered {status} {}: {}",
                            code.unwrap_or("(no error code)"),
                            service.err().message().unwrap_or("no message")
                        ),
                        status >= 500
                            || status == 429
                            || matches!(code, Some("SlowDown" | "RequestTimeout")),
                    ),
                }
            }
            _ if credentials_error(&error).is_some() => (
                Category::NoCredentials,
                "no usable AWS credentials: give the pod an IAM role (EKS Pod Identity, or \
                 IRSA via the service account annotation), or set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY"
                    .to_owned(),
                false,
            ),
            SdkError::TimeoutError(_) => (
                Category::Timeout,
                format!("S3 at {} did not answer in time", self.endpoint()),
                true,
            ),
            SdkError::DispatchFailure(failure) if failure.is_user() => (
                Category::S3Error,
                "the request could not be sent: check AWS_ENDPOINT_URL and AWS_REGION".to_owned(),
                false,
            ),
            SdkError::DispatchFailure(_) => (
                Category::Unreachable,
                format!(
                    "cannot connect to {}: check DNS and the network path to S3 (NAT or VPC \
                     endpoint, NetworkPolicy egress) or AWS_ENDPOINT_URL",
                    self.endpoint()
                ),
                true,
            ),
            SdkError::ResponseError(_) => (
                Category::S3Error,
                format!("{} sent an answer that cannot be read", self.endpoint()),
                true,
            ),
            _ => (
                Category::S3Error,
                "the request could not be made: check BACKGROUND_IMAGE_URL and AWS_REGION"
                    .to_owned(),
                false,
            ),
        };
        Attempt {
            problem: Problem::new(category, check).with_detail(detail),
            transient,
        }
    }
}

fn no_such_key(location: &ObjectLocation) -> String {
    let mut check = format!(
        "bucket {} has no object {:?}: check the key's folders, case and extension",
        location.bucket, location.key
    );
    if location.key.contains('+') {
        // The S3 console writes spaces as '+' in its object URLs.
        check.push_str("; a space in a key is written %20 in a URL, not +");
    }
    check
}

/// The credentials error inside an SDK error, when loading credentials is what failed.
fn credentials_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialsError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// 200 ms, 400 ms, … up to 2 s, each between half and all of that so that replicas
/// started together do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let full = Duration::from_millis(200 * 2u64.pow(attempt.saturating_sub(1).min(4)))
        .min(Duration::from_secs(2));
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    full / 2 + full.mul_f64((random % 1000) as f64 / 2000.0)
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            assert!(wait >= Duration::from_millis(100), "{attempt}: {wait:?}");
            assert!(wait <= Duration::from_secs(2), "{attempt}: {wait:?}");
        }
        assert!(backoff(1) <= Duration::from_millis(200));
        assert!(backoff(9) >= Duration::from_secs(1));
    }

    #[test]
    fn a_plus_in_a_missing_key_gets_a_hint() {
        let location: ObjectLocation = "s3://bkt/my+photo.jpg".parse().unwrap();
        assert!(no_such_key(&location).contains("%20"));
        let location: ObjectLocation = "s3://bkt/photo.jpg".parse().unwrap();
        assert!(!no_such_key(&location).contains("%20"));
    }

    #[test]
    fn a_missing_credentials_error_is_found_in_the_chain() {
        let error =
            SdkError::<GetObjectError>::dispatch_failure(aws_sdk_s3::error::ConnectorError::other(
                Box::new(CredentialsError::not_loaded("no providers in chain")),
                None,
            ));
        assert!(credentials_error(&error).is_some());
        let error = SdkError::<GetObjectError>::timeout_error("slow");
        assert!(credentials_error(&error).is_none());
    }
}
