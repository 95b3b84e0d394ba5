//! `employee-db backup` and `employee-db restore`: the employee table to a file or an S3
//! object and back, on whichever database the configuration selects, so a backup taken
//! from SQLite restores into MySQL and back.
//!
//! The file format is in `format`, where backups live in `store`, and the database side
//! (the snapshot and the all-or-nothing load) in `crate::db::backup`.

mod format;
mod store;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use self::format::{Decoder, Encoder};
use self::store::{Sink, Source};
use crate::config::{BackgroundConfig, Config};
use crate::db::backup::{RestoreError, Restored, Snapshot};
use crate::db::{Db, DbError};

pub use self::format::{FormatError, Header};
pub use self::store::Location;

/// Output is handed to the destination in pieces of about this size.
const WRITE_CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Location(String),
    #[error("{0}")]
    Destination(String),
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Restore(#[from] RestoreError<FormatError>),
    /// The row count and the rows read in one snapshot disagree: the database did not
    /// give the isolation it promises, so the file would lie.
    #[error("the snapshot was not consistent: {0}")]
    Inconsistent(String),
}

/// A backup that was written.
#[derive(Debug)]
pub struct Written {
    pub location: Location,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// A restore that committed.
#[derive(Debug)]
pub struct RestoreSummary {
    pub header: Header,
    pub restored: Restored,
}

/// Writes a consistent snapshot of the employees to `to` (a file path or S3 URL; one
/// ending in `/` is a folder or prefix, and the backup is named by the time it was taken).
pub async fn backup(config: &Config, to: &str) -> Result<Written, BackupError> {
    let now = seconds_now();
    let location = Location::for_backup(to, &compact(&now)).map_err(BackupError::Location)?;
    let db = Db::connect_lazy(&config.db)?;
    let result = write_backup(&db, location, &config.background, now).await;
    db.close().await;
    result
}

async fn write_backup(
    db: &Db,
    location: Location,
    aws: &BackgroundConfig,
    now: DateTime,
) -> Result<Written, BackupError> {
    let mut snapshot = db.snapshot().await?;
    let header = Header::new(db.backend_name(), rfc3339(&now), snapshot.rows());
    let mut sink = Sink::create(&location, aws)
        .await
        .map_err(BackupError::Destination)?;
    let (bytes, sha256) = match copy(&mut snapshot, &mut sink, &header).await {
        Ok(written) => written,
        Err(err) => {
            sink.abort().await;
            return Err(err);
        }
    };
    sink.finish().await.map_err(BackupError::Destination)?;
    snapshot.close().await?;
    Ok(Written {
        location,
        rows: header.rows,
        bytes,
        sha256,
    })
}

/// Streams the snapshot into the sink; returns the bytes written and the checksum.
async fn copy(
    snapshot: &mut Snapshot,
    sink: &mut Sink,
    header: &Header,
) -> Result<(u64, String), BackupError> {
    let mut out = Vec::with_capacity(WRITE_CHUNK_BYTES * 2);
    let mut bytes = 0u64;
    let mut encoder = Encoder::start(header, &mut out);
    loop {
        let batch = snapshot.next_batch().await?;
        if batch.is_empty() {
            break;
        }
        for employee in &batch {
            encoder.row(employee, &mut out);
        }
        if out.len() >= WRITE_CHUNK_BYTES {
            sink.write(&out).await.map_err(BackupError::Destination)?;
            bytes += out.len() as u64;
            out.clear();
        }
    }
    let sha256 = encoder
        .finish(&mut out)
        .map_err(BackupError::Inconsistent)?;
    sink.write(&out).await.map_err(BackupError::Destination)?;
    bytes += out.len() as u64;
    Ok((bytes, sha256))
}

/// Restores the backup at `from` into the configured database: the file is checked
/// whole first, then loaded in one transaction.
pub async fn restore(
    config: &Config,
    from: &str,
    merge: bool,
) -> Result<RestoreSummary, BackupError> {
    let location = Location::parse(from).map_err(BackupError::Location)?;
    let db = Db::connect_lazy(&config.db)?;
    let result = restore_into(&db, location, &config.background, merge).await;
    db.close().await;
    result
}

async fn restore_into(
    db: &Db,
    location: Location,
    aws: &BackgroundConfig,
    merge: bool,
) -> Result<RestoreSummary, BackupError> {
    // The schema the app would create at its start, so a fresh database can be restored
    // into before the app ever ran against it.
    db.migrate().await?;
    if !merge {
        // Checked again inside the load's transaction; asking now saves reading a large
        // backup only to refuse it.
        let stored = db.employee_count().await?;
        if stored > 0 {
            return Err(RestoreError::NotEmpty(stored).into());
        }
    }
    let mut source = Source::new(location, aws).await;
    let header = Decoder::open(source.open().await.map_err(BackupError::Source)?)
        .await?
        .verify()
        .await?;
    let mut decoder = Decoder::open(source.open().await.map_err(BackupError::Source)?).await?;
    if decoder.header() != &header {
        return Err(FormatError::Damaged(format!(
            "{source} changed between the check and the restore"
        ))
        .into());
    }
    let restored = db.restore(merge, async || decoder.next().await).await?;
    Ok(RestoreSummary { header, restored })
}

fn seconds_now() -> DateTime {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DateTime::from_secs(seconds as i64)
}

/// `2026-11-28T02:00:00Z`.
fn rfc3339(time: &DateTime) -> String {
    time.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

/// `20261128T020000Z`: a backup's name, sorting in time order, without the colons that
/// some file systems and tools refuse.
fn compact(time: &DateTime) -> String {
    rfc3339(time).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_need_no_quoting() {
        let time = DateTime::from_secs(1_795_831_200);
        assert_eq!(rfc3339(&time), "2026-11-28T02:00:00Z");
        assert_eq!(compact(&time), "20261128T020000Z");
    }
}
