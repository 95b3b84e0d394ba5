//! `BACKGROUND_IMAGE_URL`: the forms people copy from the S3 console and the CLI, read
//! into a bucket, a key and (when the host names one) a region.

use std::fmt;

use percent_encoding::percent_decode_str;
use serde::Serialize;
use url::Url;

/// Shown with every rejected value, so the fix is in the same log line.
pub const ACCEPTED_FORMS: &str = "s3://BUCKET/KEY, https://BUCKET.s3.REGION.amazonaws.com/KEY, \
     https://BUCKET.s3.amazonaws.com/KEY or https://s3.REGION.amazonaws.com/BUCKET/KEY";

/// One S3 object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectLocation {
    pub bucket: String,
    /// Percent-decoded: the key exactly as S3 stores it.
    pub key: String,
    /// The region the URL's host names; `None` means `AWS_REGION`.
    pub region: Option<String>,
}

impl fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an S3 object URL ({reason}); accepted forms: {ACCEPTED_FORMS}")]
pub struct UrlError {
    pub value: String,
    pub reason: String,
}

impl std::str::FromStr for ObjectLocation {
    type Err = UrlError;

    fn from_str(value: &str) -> Result<Self, UrlError> {
        parse(value.trim()).map_err(|reason| UrlError {
            value: value.to_owned(),
            reason,
        })
    }
}

fn parse(value: &str) -> Result<ObjectLocation, String> {
    let url = Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("remove the part after '?' or '#': the app signs its own requests".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the URL".into());
    }
    let host = url.host_str().unwrap_or_default();
    let path = decode(url.path())?;
    let (bucket, key, region) = match url.scheme() {
        "s3" => (host.to_owned(), strip_slash(&path).to_owned(), None),
        "https" | "http" => {
            if url.port().is_some() {
                return Err("an S3 endpoint with a port is set with AWS_ENDPOINT_URL; \
                            name the object as s3://BUCKET/KEY"
                    .into());
            }
            let Some(endpoint) = S3Host::parse(host) else {
                return Err(format!("{host} is not an Amazon S3 host"));
            };
            match endpoint.bucket {
                // Virtual-hosted: the bucket is in the host name.
                Some(bucket) => (bucket, strip_slash(&path).to_owned(), endpoint.region),
                // Path-style: the first path segment is the bucket.
                None => {
                    let path = strip_slash(&path);
                    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
                    (bucket.to_owned(), key.to_owned(), endpoint.region)
                }
            }
        }
        other => return Err(format!("the scheme {other}:// is not supported")),
    };
    check_bucket(&bucket)?;
    if key.is_empty() {
        return Err(format!("it names bucket {bucket} but no object key"));
    }
    if key.ends_with('/') {
        return Err(format!("{key} is a folder, not an object"));
    }
    Ok(ObjectLocation {
        bucket,
        key,
        region,
    })
}

fn strip_slash(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

/// Percent-decoding as URLs define it: `%20` is a space, `+` stays a plus.
fn decode(path: &str) -> Result<String, String> {
    percent_decode_str(path)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| "the key is not UTF-8 once percent-decoded".into())
}

/// S3's naming rules, so a typo is reported here rather than as a signing error.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&bucket.len())
        && bucket.chars().all(allowed)
        && ends_ok(bucket.chars().next())
        && ends_ok(bucket.chars().last())
    {
        Ok(())
    } else if bucket.is_empty() {
        Err("it names no bucket".into())
    } else {
        Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        ))
    }
}

/// An Amazon S3 host: `[BUCKET.]s3[.dualstack][.REGION].amazonaws.com`, or the older
/// `[BUCKET.]s3-REGION.amazonaws.com`.
struct S3Host {
    bucket: Option<String>,
    region: Option<String>,
}

impl S3Host {
    fn parse(host: &str) -> Option<S3Host> {
        let rest = host
            .strip_suffix(".amazonaws.com")
            .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
        let labels: Vec<&str> = rest.split('.').collect();
        // Bucket names may contain dots and even an "s3" label: the service label is the
        // last one that only a region or "dualstack" follows.
        let service = labels
            .iter()
            .rposition(|label| service_region(label).is_some())?;
        let mut region = service_region(labels[service]).flatten();
        for label in &labels[service + 1..] {
            match *label {
                "dualstack" => {}
                r if is_region(r) && region.is_none() => region = Some(r),
                _ => return None,
            }
        }
        let bucket = (service > 0).then(|| labels[..service].join("."));
        Some(S3Host {
            bucket,
            region: region.map(str::to_owned),
        })
    }
}

/// `Some(region)` for the S3 service label of a host name (`s3`, `s3-REGION`).
fn service_region(label: &str) -> Option<Option<&str>> {
    match label {
        "s3" => Some(None),
        // The legacy alias of us-east-1.
        "s3-external-1" => Some(Some("us-east-1")),
        _ => label.strip_prefix("s3-").filter(|r| is_region(r)).map(Some),
    }
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let letters = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase());
    match parts.as_slice() {
        [area, words @ .., number] => {
            area.len() == 2
                && letters(area)
                && !words.is_empty()
                && words.iter().all(letters)
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> (String, String, Option<String>) {
        let location: ObjectLocation = value.parse().unwrap_or_else(|e| panic!("{value}: {e}"));
        (location.bucket, location.key, location.region)
    }

    fn ok(bucket: &str, key: &str, region: Option<&str>) -> (String, String, Option<String>) {
        (bucket.into(), key.into(), region.map(Into::into))
    }

    #[test]
    fn s3_scheme() {
        assert_eq!(
            parsed("s3://my-bucket/images/bg.jpg"),
            ok("my-bucket", "images/bg.jpg", None)
        );
        assert_eq!(
            parsed("  s3://b.with.dots/k  "),
            ok("b.with.dots", "k", None)
        );
    }

    #[test]
    fn virtual_hosted_with_region() {
        assert_eq!(
            parsed("https://my-bucket.s3.eu-west-2.amazonaws.com/images/bg.png"),
            ok("my-bucket", "images/bg.png", Some("eu-west-2"))
        );
        assert_eq!(
            parsed("https://my.dotted.bucket.s3.us-gov-west-1.amazonaws.com/a.jpg"),
            ok("my.dotted.bucket", "a.jpg", Some("us-gov-west-1"))
        );
        assert_eq!(
            parsed("https://b12.s3.dualstack.ap-southeast-2.amazonaws.com/a.jpg"),
            ok("b12", "a.jpg", Some("ap-southeast-2"))
        );
        assert_eq!(
            parsed("https://bkt.s3.cn-north-1.amazonaws.com.cn/a.jpg"),
            ok("bkt", "a.jpg", Some("cn-north-1"))
        );
    }

    #[test]
    fn legacy_virtual_hosted_forms() {
        assert_eq!(
            parsed("https://my-bucket.s3.amazonaws.com/bg.jpg"),
            ok("my-bucket", "bg.jpg", None)
        );
        assert_eq!(
            parsed("https://my-bucket.s3-us-west-2.amazonaws.com/bg.jpg"),
            ok("my-bucket", "bg.jpg", Some("us-west-2"))
        );
        assert_eq!(
            parsed("http://my-bucket.s3-external-1.amazonaws.com/bg.jpg"),
            ok("my-bucket", "bg.jpg", Some("us-east-1"))
        );
        // A bucket whose name has an "s3" label of its own.
        assert_eq!(
            parsed("https://logs.s3.backup.s3.amazonaws.com/bg.jpg"),
            ok("logs.s3.backup", "bg.jpg", None)
        );
    }

    #[test]
    fn path_style() {
        assert_eq!(
            parsed("https://s3.us-east-2.amazonaws.com/my-bucket/dir/bg.webp"),
            ok("my-bucket", "dir/bg.webp", Some("us-east-2"))
        );
        assert_eq!(
            parsed("https://s3.amazonaws.com/my-bucket/bg.webp"),
            ok("my-bucket", "bg.webp", None)
        );
        assert_eq!(
            parsed("https://s3-eu-central-1.amazonaws.com/my-bucket/bg.webp"),
            ok("my-bucket", "bg.webp", Some("eu-central-1"))
        );
    }

    #[test]
    fn keys_are_percent_decoded_and_plus_is_kept() {
        assert_eq!(
            parsed("s3://bkt/my%20photos/sunset%202024.jpg").1,
            "my photos/sunset 2024.jpg"
        );
        assert_eq!(parsed("s3://bkt/my photos/bg.jpg").1, "my photos/bg.jpg");
        assert_eq!(parsed("s3://bkt/a+b%2Bc.jpg").1, "a+b+c.jpg");
        assert_eq!(
            parsed("https://bkt.s3.eu-west-1.amazonaws.com/caf%C3%A9/%E6%9D%B1%E4%BA%AC.png").1,
            "café/東京.png"
        );
        assert_eq!(parsed("s3://bkt/café/東京.png").1, "café/東京.png");
        assert_eq!(parsed("s3://bkt/100%25.png").1, "100%.png");
    }

    #[test]
    fn other_forms_are_rejected_with_the_accepted_ones() {
        for (value, reason) in [
            ("bucket/key.jpg", "not a URL"),
            ("", "not a URL"),
            ("ftp://bucket/key.jpg", "ftp://"),
            ("s3://bucket", "no object key"),
            ("s3://bucket/", "no object key"),
            ("s3://bucket/folder/", "is a folder"),
            ("s3:///key.jpg", "no bucket"),
            ("s3://My_Bucket/key.jpg", "not a bucket name"),
            (
                "https://example.com/bucket/key.jpg",
                "not an Amazon S3 host",
            ),
            (
                "https://b.s3-website-us-east-1.amazonaws.com/k.jpg",
                "not an Amazon S3 host",
            ),
            ("https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=x", "'?'"),
            ("http://localhost:9000/b/k.jpg", "AWS_ENDPOINT_URL"),
            ("s3://bkt/%FF.jpg", "UTF-8"),
        ] {
            let err = value.parse::<ObjectLocation>().unwrap_err();
            let message = err.to_string();
            assert!(message.contains(reason), "{value}: {message}");
            assert!(message.contains(ACCEPTED_FORMS), "{value}: {message}");
            assert!(message.contains(&format!("{value:?}")), "{message}");
        }
    }

    #[test]
    fn regions_are_recognised() {
        for region in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "il-central-1",
        ] {
            assert!(is_region(region), "{region}");
        }
        for label in [
            "website-us-east-1",
            "us-east",
            "east-1",
            "u-east-1",
            "us--1",
            "external-1",
        ] {
            assert!(!is_region(label), "{label}");
        }
    }
}
