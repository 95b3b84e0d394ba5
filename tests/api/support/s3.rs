//! An S3-protocol server inside the test: s3s over a temporary folder (top-level folders
//! are buckets), checking SigV4 signatures against one key pair, on 127.0.0.1:0. Each
//! test starts its own; it stops with the test's runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput,
    ETagCondition, GetObjectInput, GetObjectOutput, PutObjectInput, PutObjectOutput,
    UploadPartInput, UploadPartOutput,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use tokio::net::TcpListener;

pub const ACCESS_KEY: &str = "AKIATESTBACKGROUND01";
pub const SECRET_KEY: &str = "background-test-secret-key-0123456789abcd";

pub struct S3Server {
    pub endpoint: String,
    root: PathBuf,
    gets: Arc<AtomicUsize>,
    unavailable: Arc<AtomicUsize>,
    dir: tempfile::TempDir,
}

/// s3s-fs for reads and uploads (single and multipart), plus what it leaves out and real
/// S3 does: `NoSuchBucket` for a
/// missing bucket, `304 Not Modified` for a matching `If-None-Match`, and the odd
/// `503 Slow Down`.
struct Store {
    files: s3s_fs::FileSystem,
    root: PathBuf,
    gets: Arc<AtomicUsize>,
    /// How many of the next requests get a 503.
    unavailable: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn get_object(
        &self,
        mut request: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let busy = self
            .unavailable
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if busy.is_ok() {
            return Err(s3_error!(SlowDown));
        }
        if !self.root.join(&request.input.bucket).is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let if_none_match = request.input.if_none_match.take();
        let response = self.files.get_object(request).await?;
        if let (Some(ETagCondition::ETag(wanted)), Some(etag)) =
            (&if_none_match, &response.output.e_tag)
            && wanted.value() == etag.value()
        {
            return Err(s3_error!(NotModified));
        }
        Ok(response)
    }

    async fn put_object(
        &self,
        request: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.files.put_object(request).await
    }

    async fn create_multipart_upload(
        &self,
        request: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.files.create_multipart_upload(request).await
    }

    async fn upload_part(
        &self,
        request: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.files.upload_part(request).await
    }

    async fn complete_multipart_upload(
        &self,
        request: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.files.complete_multipart_upload(request).await
    }

    async fn abort_multipart_upload(
        &self,
        request: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.files.abort_multipart_upload(request).await
    }
}

impl S3Server {
    pub async fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().join("buckets");
        std::fs::create_dir(&root).expect("bucket folder");
        let gets = Arc::new(AtomicUsize::new(0));
        let unavailable = Arc::new(AtomicUsize::new(0));
        let store = Store {
            files: s3s_fs::FileSystem::new(&root).expect("s3s-fs over the bucket folder"),
            root: root.clone(),
            gets: gets.clone(),
            unavailable: unavailable.clone(),
        };
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind S3");
        let endpoint = format!("http://{}", listener.local_addr().expect("S3 address"));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server {
            endpoint,
            root,
            gets,
            unavailable,
            dir,
        }
    }

    pub fn create_bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root.join(bucket)).expect("create bucket");
    }

    /// Stores an object the way an upload replaces one: whole, in one step.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = self.root.join(bucket).join(key);
        std::fs::create_dir_all(path.parent().expect("object folder")).expect("object folder");
        let temporary = self.dir.path().join("upload.tmp");
        std::fs::write(&temporary, bytes).expect("write object");
        std::fs::rename(&temporary, &path).expect("place object");
    }

    /// The objects in `bucket` whose keys start with `prefix`, by key.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, found: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).expect("read bucket folder") {
                let path = entry.expect("bucket entry").path();
                if path.is_dir() {
                    walk(root, &path, found);
                } else {
                    let key = path.strip_prefix(root).expect("inside the bucket");
                    found.push((
                        key.to_string_lossy().into_owned(),
                        std::fs::read(&path).expect("read object"),
                    ));
                }
            }
        }
        let root = self.root.join(bucket);
        let mut found = Vec::new();
        walk(&root, &root, &mut found);
        found.retain(|(key, _)| key.starts_with(prefix));
        found.sort();
        found
    }

    /// Answers the next `count` requests with `503 Slow Down`.
    pub fn unavailable_for(&self, count: usize) {
        self.unavailable.store(count, Ordering::SeqCst);
    }

    /// GetObject requests received, answered or not.
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }

    /// The app's environment for `url` on this server, signed with `secret`.
    pub fn vars_with_secret(&self, url: &str, secret: &str) -> Vec<(String, String)> {
        client_vars(&self.endpoint, url, secret)
    }

    pub fn vars(&self, url: &str) -> Vec<(String, String)> {
        self.vars_with_secret(url, SECRET_KEY)
    }
}

/// The app's environment for `url` on the S3 endpoint at `endpoint` (this server, or one
/// that misbehaves), signed with the test key pair's access key and `secret`.
pub fn client_vars(endpoint: &str, url: &str, secret: &str) -> Vec<(String, String)> {
    [
        ("BACKGROUND_IMAGE_URL", url),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "eu-west-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
