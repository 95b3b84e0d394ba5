//! Where backups live: a local file, or an S3 object (`s3://BUCKET/KEY`, or the https
//! forms the background image accepts) reached with the app's S3 client.
//!
//! Writing streams: a file is written under a temporary name and renamed when complete;
//! an S3 object is sent as a multipart upload in `PART_BYTES` parts (one PutObject when
//! it is smaller), so memory stays at about two parts whatever the table's size. A
//! backup that fails leaves nothing under its name.

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};

use crate::background::ObjectLocation;
use crate::config::BackgroundConfig;

/// S3 wants parts of at least 5 MiB (all but the last) and at most 10,000 of them: 8 MiB
/// parts carry backups up to 80 GB, far beyond any employee table.
const PART_BYTES: usize = 8 * 1024 * 1024;
const CONTENT_TYPE: &str = "application/x-ndjson";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    S3(ObjectLocation),
}

impl Location {
    /// A file path, or an S3 URL (anything with `://`).
    pub fn parse(text: &str) -> Result<Location, String> {
        let text = text.trim();
        if text.is_empty() {
            Err("no file or s3:// URL given".into())
        } else if text.contains("://") {
            text.parse().map(Location::S3).map_err(|e| e.to_string())
        } else {
            Ok(Location::File(PathBuf::from(text)))
        }
    }

    /// Where a backup goes: a destination ending in `/` is a folder or key prefix, and the
    /// backup is named `<name>.jsonl` inside it, so a nightly job needs no shell to make
    /// a new name each night.
    pub fn for_backup(text: &str, name: &str) -> Result<Location, String> {
        match text.trim() {
            prefix if prefix.ends_with('/') => Location::parse(&format!("{prefix}{name}.jsonl")),
            whole => Location::parse(whole),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => path.display().fmt(f),
            Location::S3(object) => object.fmt(f),
        }
    }
}

/// A client for `object`'s region (when its URL names one), with the SDK's standard
/// retries: a backup has no retry loop of its own.
async fn client_for(object: &ObjectLocation, aws: &BackgroundConfig) -> Client {
    let mut aws = aws.clone();
    if let Some(region) = &object.region {
        aws.aws_region = region.clone();
    }
    crate::s3::client(&aws, RetryConfig::standard()).await
}

/// One line naming the S3 error: its code and message when S3 answered, the whole chain
/// (credentials, network) when it did not.
fn s3_error<E>(doing: &str, object: &ObjectLocation, err: SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match &err {
        SdkError::ServiceError(service) => match (service.err().code(), service.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => format!("HTTP {}", service.raw().status().as_u16()),
        },
        _ => DisplayErrorContext(&err).to_string(),
    };
    format!("{doing} {object}: {detail}")
}

/// A backup being written.
pub struct Sink {
    target: Target,
}

enum Target {
    File {
        file: tokio::fs::File,
        partial: PathBuf,
        path: PathBuf,
    },
    S3(Upload),
}

struct Upload {
    client: Client,
    object: ObjectLocation,
    part: Vec<u8>,
    /// Set once the first full part is sent.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl Sink {
    pub async fn create(location: &Location, aws: &BackgroundConfig) -> Result<Sink, String> {
        let target = match location {
            Location::File(path) => {
                let partial = partial_name(path);
                let mut options = tokio::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                // A backup holds every employee's personal data: readable by its owner only.
                #[cfg(unix)]
                options.mode(0o600);
                let file = options
                    .open(&partial)
                    .await
                    .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
                Target::File {
                    file,
                    partial,
                    path: path.clone(),
                }
            }
            Location::S3(object) => Target::S3(Upload {
                client: client_for(object, aws).await,
                object: object.clone(),
                part: Vec::with_capacity(PART_BYTES),
                upload_id: None,
                parts: Vec::new(),
            }),
        };
        Ok(Sink { target })
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match &mut self.target {
            Target::File { file, partial, .. } => file
                .write_all(bytes)
                .await
                .map_err(|e| format!("cannot write {}: {e}", partial.display())),
            Target::S3(upload) => {
                upload.part.extend_from_slice(bytes);
                if upload.part.len() >= PART_BYTES {
                    upload.send_part().await?;
                }
                Ok(())
            }
        }
    }

    /// Makes the backup visible under its name, complete.
    pub async fn finish(self) -> Result<(), String> {
        match self.target {
            Target::File {
                file,
                partial,
                path,
            } => {
                file.sync_all()
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
                drop(file);
                tokio::fs::rename(&partial, &path).await.map_err(|e| {
                    format!(
                        "cannot rename {} to {}: {e}",
                        partial.display(),
                        path.display()
                    )
                })?;
                // The rename is durable once the folder is synced; a failure here leaves a
                // complete file, so it is not an error.
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
                    && let Ok(folder) = tokio::fs::File::open(folder).await
                {
                    let _ = folder.sync_all().await;
                }
                Ok(())
            }
            Target::S3(upload) => upload.complete().await,
        }
    }

    /// Removes what a failed backup wrote, as far as it can.
    pub async fn abort(self) {
        match self.target {
            Target::File { file, partial, .. } => {
                drop(file);
                let _ = tokio::fs::remove_file(&partial).await;
            }
            Target::S3(upload) => upload.abort().await,
        }
    }
}

/// `DEST.partial` beside `DEST`, so the rename stays on one file system.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

impl Upload {
    async fn send_part(&mut self) -> Result<(), String> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.object.bucket)
                    .key(&self.object.key)
                    .content_type(CONTENT_TYPE)
                    .send()
                    .await
                    .map_err(|e| s3_error("cannot start the upload of", &self.object, e))?;
                let id = created
                    .upload_id()
                    .ok_or_else(|| format!("S3 gave no upload ID for {}", self.object))?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::replace(&mut self.part, Vec::with_capacity(PART_BYTES));
        let sent = self
            .client
            .upload_part()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| s3_error(&format!("cannot upload part {number} of"), &self.object, e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .set_checksum_crc32(sent.checksum_crc32().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    async fn complete(mut self) -> Result<(), String> {
        let Some(upload_id) = self.upload_id.clone() else {
            // Smaller than one part: one request.
            let body = std::mem::take(&mut self.part);
            return self
                .client
                .put_object()
                .bucket(&self.object.bucket)
                .key(&self.object.key)
                .content_type(CONTENT_TYPE)
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| s3_error("cannot upload", &self.object, e));
        };
        if !self.part.is_empty()
            && let Err(err) = self.send_part().await
        {
            self.abort().await;
            return Err(err);
        }
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await;
        match completed {
            Ok(_) => Ok(()),
            Err(e) => {
                let message = s3_error("cannot complete the upload of", &self.object, e);
                self.abort().await;
                Err(message)
            }
        }
    }

    /// Best effort: the nightly job's role may only put objects, so there the bucket's
    /// lifecycle rule removes the parts of an upload that never completed.
    async fn abort(self) {
        let Some(upload_id) = self.upload_id else {
            return;
        };
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.object.bucket)
            .key(&self.object.key)
            .upload_id(upload_id)
            .send()
            .await
        {
            eprintln!(
                "employee-db: {} (the bucket's lifecycle rule removes the parts)",
                s3_error("could not abort the upload of", &self.object, e)
            );
        }
    }
}

/// A readable backup. Restore reads it twice (check, then write), and an S3 object is
/// fetched twice rather than kept on disk: the second GET is pinned to the first one's
/// ETag, so an object replaced in between is refused rather than mixed.
pub enum Source {
    File(PathBuf),
    S3 {
        client: Client,
        object: ObjectLocation,
        etag: Option<String>,
    },
}

pub type Reader = Pin<Box<dyn AsyncBufRead + Send>>;

/// Big enough that reading a file is not a system call per line.
const READ_BUFFER_BYTES: usize = 256 * 1024;

impl Source {
    pub async fn new(location: Location, aws: &BackgroundConfig) -> Source {
        match location {
            Location::File(path) => Source::File(path),
            Location::S3(object) => Source::S3 {
                client: client_for(&object, aws).await,
                object,
                etag: None,
            },
        }
    }

    pub async fn open(&mut self) -> Result<Reader, String> {
        match self {
            Source::File(path) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                Ok(Box::pin(BufReader::with_capacity(READ_BUFFER_BYTES, file)))
            }
            Source::S3 {
                client,
                object,
                etag,
            } => {
                let got = client
                    .get_object()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .set_if_match(etag.clone())
                    .send()
                    .await
                    .map_err(|e| s3_error("cannot read", object, e))?;
                if etag.is_none() {
                    *etag = got.e_tag().map(str::to_owned);
                }
                Ok(Box::pin(got.body.into_async_read()))
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => path.display().fmt(f),
            Source::S3 { object, .. } => object.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_slash_names_a_folder_or_prefix() {
        let name = "20261128T020000Z";
        assert_eq!(
            Location::for_backup("s3://bkt/backups/", name).unwrap(),
            Location::S3("s3://bkt/backups/20261128T020000Z.jsonl".parse().unwrap())
        );
        assert_eq!(
            Location::for_backup("/var/backups/", name).unwrap(),
            Location::File("/var/backups/20261128T020000Z.jsonl".into())
        );
        assert_eq!(
            Location::for_backup("/tmp/b.jsonl", name).unwrap(),
            Location::File("/tmp/b.jsonl".into())
        );
    }

    #[test]
    fn urls_are_checked_like_the_background_image() {
        assert!(Location::parse("s3://Bad_Bucket/x").is_err());
        assert!(Location::parse("ftp://host/x").is_err());
        assert!(Location::parse("  ").is_err());
        assert_eq!(
            Location::parse("https://bkt.s3.eu-west-1.amazonaws.com/b.jsonl").unwrap(),
            Location::S3(ObjectLocation {
                bucket: "bkt".into(),
                key: "b.jsonl".into(),
                region: Some("eu-west-1".into()),
            })
        );
    }
}
