//! The one way the app builds an S3 client, for the background image and for backups:
//! aws-config's default credential chain (environment, profile, IRSA, EKS Pod Identity),
//! `AWS_REGION`, and `AWS_ENDPOINT_URL[_S3]` for S3-compatible stores.
//!
//! The settings live in `BackgroundConfig` because the image was the app's first use of
//! S3; backups read the same variables, so one pod configuration serves both.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::config::BackgroundConfig;

/// A client for `config`'s region, endpoint and keys, retrying as `retry` says.
pub async fn client(config: &BackgroundConfig, retry: RetryConfig) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.aws_region.clone()))
        .retry_config(retry);
    if let Some(endpoint) = &config.aws_endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(keys) = &config.aws_keys {
        loader = loader.credentials_provider(Credentials::new(
            &keys.access_key_id,
            keys.secret_access_key.expose(),
            keys.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "Environment",
        ));
    }
    let shared = loader.load().await;
    // S3-compatible stores are addressed by path: `http://minio:9000/bucket/key`, not
    // `http://bucket.minio:9000/key`.
    let path_style = shared.endpoint_url().is_some();
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build(),
    )
}
