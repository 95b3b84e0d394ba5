//! The cache folder: each image is written once under a name made from its content hash
//! (a temporary file, then a rename, so a reader never sees half a file), and images no
//! page refers to any more are removed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::format::ImageFormat;

/// Hex digits of the SHA-256 in file names: 64 bits, plenty for a handful of images.
const HASH_CHARS: usize = 16;

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// An image written to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// `<sha256-prefix>.<extension>`: the last segment of its public path.
    pub name: String,
    pub path: PathBuf,
    /// The full SHA-256 of the content, in hex.
    pub sha256: String,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` under their content-hash name, unless that file is already there.
    pub async fn store(&self, bytes: &[u8], format: ImageFormat) -> io::Result<StoredFile> {
        let sha256 = hex(&Sha256::digest(bytes));
        let name = format!("{}.{}", &sha256[..HASH_CHARS], format.extension());
        let path = self.dir.join(&name);
        let stored = StoredFile { name, path, sha256 };
        tokio::fs::create_dir_all(&self.dir).await?;
        if tokio::fs::metadata(&stored.path)
            .await
            .is_ok_and(|m| m.len() == bytes.len() as u64)
        {
            return Ok(stored);
        }

        static NEXT: AtomicU64 = AtomicU64::new(0);
        let temporary = self.dir.join(format!(
            ".{}.{}-{}.tmp",
            stored.name,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = async {
            let mut file = tokio::fs::File::create_new(&temporary).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            tokio::fs::rename(&temporary, &stored.path).await
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        written.map(|()| stored)
    }

    /// Removes the images (and leftover temporary files) not named in `keep`. Files that
    /// this app did not write are left alone, in case the folder is shared.
    pub async fn retain(&self, keep: &[&str]) {
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else {
            return;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if keep.contains(&name) || !is_ours(name) {
                continue;
            }
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => tracing::debug!(file = name, "removed an old background image"),
                Err(e) => {
                    tracing::warn!(file = name, error = %e, "cannot remove an old background image")
                }
            }
        }
    }
}

/// Names `store` makes: `<hex>.<extension>` and `.<that>.<pid>-<n>.tmp`.
fn is_ours(name: &str) -> bool {
    let image = name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .and_then(|rest| rest.rsplit_once('.').map(|(image, _)| image))
        .unwrap_or(name);
    image.split_once('.').is_some_and(|(hash, extension)| {
        hash.len() == HASH_CHARS
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
            && ImageFormat::from_extension(extension).is_some()
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really";

    #[tokio::test]
    async fn stores_under_the_content_hash_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("made/on/demand"));
        let first = cache.store(PNG, ImageFormat::Png).await.unwrap();
        assert_eq!(
            first.sha256,
            "320bd18ca9559e3b54e1cbe84ad0bac7b660478bb4922cd1b7a5f93cdd12b882"
        );
        assert_eq!(first.name, format!("{}.png", &first.sha256[..16]));
        assert_eq!(std::fs::read(&first.path).unwrap(), PNG);
        let again = cache.store(PNG, ImageFormat::Png).await.unwrap();
        assert_eq!(again, first);
        let files: Vec<_> = std::fs::read_dir(cache.dir()).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary file is left behind");
    }

    #[tokio::test]
    async fn retain_removes_only_our_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let keep = cache.store(PNG, ImageFormat::Png).await.unwrap();
        let old = cache.store(b"GIF89a...", ImageFormat::Gif).await.unwrap();
        let leftover = dir.path().join(format!(".{}.12-3.tmp", old.name));
        let foreign = dir.path().join("notes.txt");
        std::fs::write(&leftover, b"half").unwrap();
        std::fs::write(&foreign, b"mine").unwrap();
        cache.retain(&[keep.name.as_str()]).await;
        assert!(keep.path.exists());
        assert!(!old.path.exists());
        assert!(!leftover.exists());
        assert!(foreign.exists());
    }

    #[tokio::test]
    async fn an_unwritable_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let cache = Cache::new(blocker.join("cache"));
        assert!(cache.store(PNG, ImageFormat::Png).await.is_err());
    }
}
