//! The backup file, format version 1: JSON Lines in UTF-8, every line ending in `\n`.
//!
//! ```text
//! {"format":"employee-db-backup","format_version":1,"schema_version":1,"app_version":"0.1.0","backend":"SQLite","created_at":"2026-11-28T02:00:00Z","rows":2}
//! {"emp_id":1,"first_name":"Ada","last_name":"Lovelace","primary_skill":"Maths","location":"London"}
//! {"emp_id":2,"first_name":"Grace","last_name":"Hopper","primary_skill":"COBOL","location":"New York"}
//! {"sha256":"<64 hex digits: SHA-256 of every byte before this line>"}
//! ```
//!
//! Rows come in ascending `emp_id` order, each ID once, so a reader finds duplicates
//! without remembering IDs. The header announces the row count, so the reader knows which
//! line is the trailer; the trailer's checksum covers the header and every row, so a
//! truncated file (no trailer), an edited byte (another checksum) and a changed count are
//! all detected. Every row must pass the add form's validation unchanged.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::employee::{Employee, EmployeeForm, Field};

/// The `format` value that marks a file as one of ours.
pub const FORMAT: &str = "employee-db-backup";
/// The layout of the lines (header, rows, trailer): bumped when a reader of this version
/// could not read the new layout.
pub const FORMAT_VERSION: u32 = 1;
/// The employee record: its fields and their rules (`src/employee.rs`). Bumped when a
/// field is added or a rule changes; a reader refuses a newer schema than its own.
pub const SCHEMA_VERSION: u32 = 1;
/// No valid line comes near this (a row is at most a few KiB even with every character
/// escaped); the bound keeps a corrupt file from making a reader buffer gigabytes.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub schema_version: u32,
    /// The employee-db version that wrote the file.
    pub app_version: String,
    /// The database it was taken from: `MySQL` or `SQLite`.
    pub backend: String,
    /// When the snapshot was taken, RFC 3339 UTC.
    pub created_at: String,
    pub rows: u64,
}

impl Header {
    pub fn new(backend: &str, created_at: String, rows: u64) -> Header {
        Header {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            schema_version: SCHEMA_VERSION,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: backend.to_owned(),
            created_at,
            rows,
        }
    }
}

/// The last line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    sha256: String,
}

/// Why a file is not a usable backup; each names the line and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read the backup: {0}")]
    Read(#[from] std::io::Error),
    #[error("not an employee-db backup: {0}")]
    NotABackup(String),
    #[error(
        "backup format version {found} is not known to employee-db {} (it reads version \
         {FORMAT_VERSION}): restore with the employee-db version that wrote it or a newer one",
        env!("CARGO_PKG_VERSION")
    )]
    UnknownVersion { found: u64 },
    #[error(
        "the backup's employee schema version {found} is newer than this employee-db's \
         ({SCHEMA_VERSION}): restore with a newer employee-db"
    )]
    NewerSchema { found: u32 },
    #[error(
        "the backup is truncated: the header announces {announced} rows and a trailer, \
         the file ends {at}"
    )]
    Truncated { announced: u64, at: String },
    #[error("the backup is damaged or was edited: {0}")]
    Damaged(String),
    #[error("line {line}: {reason}")]
    InvalidRow { line: u64, reason: String },
}

/// Writes the file's lines into a caller's buffer, hashing them as it goes.
pub struct Encoder {
    hasher: Sha256,
    announced: u64,
    written: u64,
}

impl Encoder {
    /// Appends the header line to `out`.
    pub fn start(header: &Header, out: &mut Vec<u8>) -> Encoder {
        let mut encoder = Encoder {
            hasher: Sha256::new(),
            announced: header.rows,
            written: 0,
        };
        encoder.line(out, header);
        encoder
    }

    /// Appends one row's line to `out`.
    pub fn row(&mut self, employee: &Employee, out: &mut Vec<u8>) {
        self.written += 1;
        self.line(out, &Row(employee));
    }

    /// Appends the trailer to `out` and returns the checksum it carries. The row count is
    /// checked here, since a file whose header lies would be refused by every reader.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<String, String> {
        if self.written != self.announced {
            return Err(format!(
                "{} rows written where the header announces {}",
                self.written, self.announced
            ));
        }
        let sha256 = hex(&self.hasher.finalize());
        write_json_line(
            out,
            &Trailer {
                sha256: sha256.clone(),
            },
        );
        Ok(sha256)
    }

    fn line(&mut self, out: &mut Vec<u8>, value: &impl Serialize) {
        let start = out.len();
        write_json_line(out, value);
        self.hasher.update(&out[start..]);
    }
}

fn write_json_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Headers, trailers and rows are maps of strings and integers: serialising them into
    // memory cannot fail.
    serde_json::to_writer(&mut *out, value).expect("a backup line serialises");
    out.push(b'\n');
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An employee as a row line: its fields under their form (and column) names.
struct Row<'a>(&'a Employee);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(Field::ALL.len()))?;
        map.serialize_entry(Field::EmpId.name(), &self.0.emp_id().get())?;
        for (field, value) in Field::ALL[1..].iter().zip(self.0.text_values()) {
            map.serialize_entry(field.name(), value)?;
        }
        map.end()
    }
}

/// A row line as read: the form it would be submitted as, and its ID when there is one
/// (for messages).
struct RowIn {
    form: EmployeeForm,
    emp_id: Option<i64>,
}

impl<'de> Deserialize<'de> for RowIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = RowIn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an employee object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowIn, A::Error> {
                let mut values: Vec<(Field, String)> = Vec::with_capacity(Field::ALL.len());
                let mut emp_id = None;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let Some(field) = Field::ALL.into_iter().find(|f| f.name() == name) else {
                        return Err(de::Error::custom(format!("unknown field `{name}`")));
                    };
                    if values.iter().any(|(seen, _)| *seen == field) {
                        return Err(de::Error::custom(format!("duplicate field `{name}`")));
                    }
                    let value = if field.is_numeric() {
                        let id = map.next_value::<i64>()?;
                        emp_id = Some(id);
                        id.to_string()
                    } else {
                        map.next_value::<String>()?
                    };
                    values.push((field, value));
                }
                Ok(RowIn {
                    form: values.into_iter().collect(),
                    emp_id,
                })
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

/// Checks a row line by the add form's rules, and that it is stored exactly as the form
/// would store it (a value with spaces around it would come back changed).
fn parse_row(line: &[u8]) -> Result<Employee, String> {
    let row: RowIn = serde_json::from_slice(line).map_err(|e| format!("not a row: {e}"))?;
    let named = |message: String| match row.emp_id {
        Some(id) => format!("employee {id}: {message}"),
        None => message,
    };
    let employee = row.form.validate().map_err(|errors| {
        named(
            errors
                .fields()
                .filter_map(|field| errors.get(field))
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    if EmployeeForm::from_employee(&employee) != row.form {
        return Err(named(
            "a value has spaces around it, which the form never stores".into(),
        ));
    }
    Ok(employee)
}

/// Where the reader stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Rows,
    /// The trailer was read and checked; only the end of the file may follow.
    Ended,
}

/// Reads a backup line by line, checking everything the format promises: only what the
/// reader is holding is in memory.
pub struct Decoder<R> {
    reader: R,
    header: Header,
    hasher: Sha256,
    /// Lines read so far, the header included.
    lines: u64,
    rows: u64,
    last_id: Option<i64>,
    line: Vec<u8>,
    position: Position,
}

impl<R: AsyncBufRead + Unpin> Decoder<R> {
    /// Reads and checks the header.
    pub async fn open(mut reader: R) -> Result<Decoder<R>, FormatError> {
        let mut line = Vec::new();
        let complete = read_line(&mut reader, &mut line).await?;
        let not_ours = |why: String| FormatError::NotABackup(why);
        if line.is_empty() {
            return Err(not_ours("the file is empty".into()));
        }
        if !complete {
            return Err(not_ours("the first line is not a complete header".into()));
        }
        let value: serde_json::Value = serde_json::from_slice(&line)
            .map_err(|e| not_ours(format!("the first line is not JSON ({e})")))?;
        if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT) {
            return Err(not_ours(format!(
                "the first line has no \"format\":\"{FORMAT}\""
            )));
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(found) => return Err(FormatError::UnknownVersion { found }),
            None => return Err(not_ours("the header has no format_version".into())),
        }
        let header: Header = serde_json::from_value(value)
            .map_err(|e| not_ours(format!("the header is incomplete ({e})")))?;
        if header.schema_version > SCHEMA_VERSION {
            return Err(FormatError::NewerSchema {
                found: header.schema_version,
            });
        }
        let mut hasher = Sha256::new();
        hasher.update(&line);
        Ok(Decoder {
            reader,
            header,
            hasher,
            lines: 1,
            rows: 0,
            last_id: None,
            line,
            position: Position::Rows,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next employee; `None` once the trailer and the end of the file have checked
    /// out. A bad row is an error at once.
    pub async fn next(&mut self) -> Result<Option<Employee>, FormatError> {
        match self.next_line().await? {
            Line::Row(row) => row.map(Some),
            Line::End => Ok(None),
        }
    }

    /// Reads the whole file, preferring a damaged or truncated file over a bad row as
    /// the reason (an edited byte that breaks a row is reported as the damage it is).
    pub async fn verify(mut self) -> Result<Header, FormatError> {
        let mut first_bad_row = None;
        loop {
            match self.next_line().await? {
                Line::Row(Ok(_)) => {}
                Line::Row(Err(bad)) => {
                    first_bad_row.get_or_insert(bad);
                }
                Line::End => break,
            }
        }
        match first_bad_row {
            Some(bad) => Err(bad),
            None => Ok(self.header),
        }
    }

    async fn next_line(&mut self) -> Result<Line, FormatError> {
        if self.position == Position::Ended {
            return Ok(Line::End);
        }
        let complete = read_line(&mut self.reader, &mut self.line).await?;
        let announced = self.header.rows;
        if self.line.is_empty() {
            return Err(FormatError::Truncated {
                announced,
                at: format!("after {} rows", self.rows),
            });
        }
        if !complete {
            return Err(FormatError::Truncated {
                announced,
                at: format!("inside line {}", self.lines + 1),
            });
        }
        self.lines += 1;
        if self.rows < announced {
            self.hasher.update(&self.line);
            self.rows += 1;
            return Ok(Line::Row(self.check_row()));
        }
        self.check_trailer()?;
        self.position = Position::Ended;
        let mut rest = [0u8; 1];
        if self.reader.read(&mut rest).await? > 0 {
            return Err(FormatError::Damaged(format!(
                "there is more after the trailer on line {}",
                self.lines
            )));
        }
        Ok(Line::End)
    }

    fn check_row(&mut self) -> Result<Employee, FormatError> {
        let line = self.lines;
        let employee =
            parse_row(&self.line).map_err(|reason| FormatError::InvalidRow { line, reason })?;
        let id = employee.emp_id().get();
        if let Some(previous) = self.last_id.filter(|&previous| previous >= id) {
            return Err(FormatError::InvalidRow {
                line,
                reason: format!(
                    "employee {id} comes after employee {previous}: rows must be in \
                     ascending ID order, each ID once"
                ),
            });
        }
        self.last_id = Some(id);
        Ok(employee)
    }

    fn check_trailer(&mut self) -> Result<(), FormatError> {
        let trailer: Trailer = serde_json::from_slice(&self.line).map_err(|_| {
            FormatError::Damaged(format!(
                "line {} should be the trailer after the {} rows the header announces",
                self.lines, self.header.rows
            ))
        })?;
        let actual = hex(&std::mem::take(&mut self.hasher).finalize());
        if trailer.sha256 != actual {
            return Err(FormatError::Damaged(format!(
                "its SHA-256 is {actual}, the trailer says {}",
                trailer.sha256
            )));
        }
        Ok(())
    }
}

enum Line {
    Row(Result<Employee, FormatError>),
    End,
}

/// Reads one line into `line` (replacing it), newline included; `false` when the file
/// ended before a newline.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> Result<bool, FormatError> {
    line.clear();
    let read = (&mut *reader)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', line)
        .await?;
    let complete = line.last() == Some(&b'\n');
    if !complete && read as u64 == MAX_LINE_BYTES {
        return Err(FormatError::Damaged(format!(
            "a line is longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    Ok(complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn employee(id: &str, first: &str) -> Employee {
        [id, first, "Lovelace", "Maths", "<b>London</b>"]
            .into_iter()
            .zip(Field::ALL)
            .map(|(value, field)| (field, value.to_owned()))
            .collect::<EmployeeForm>()
            .validate()
            .expect("a valid employee")
    }

    fn file(employees: &[Employee]) -> Vec<u8> {
        let mut out = Vec::new();
        let header = Header::new(
            "SQLite",
            "2026-11-28T02:00:00Z".into(),
            employees.len() as u64,
        );
        let mut encoder = Encoder::start(&header, &mut out);
        for e in employees {
            encoder.row(e, &mut out);
        }
        encoder.finish(&mut out).expect("counts match");
        out
    }

    async fn read_all(bytes: &[u8]) -> Result<Vec<Employee>, FormatError> {
        let mut decoder = Decoder::open(bytes).await?;
        let mut rows = Vec::new();
        while let Some(e) = decoder.next().await? {
            rows.push(e);
        }
        Ok(rows)
    }

    /// Recomputes the trailer, as a tool that writes a bad row on purpose would.
    fn resealed(body_lines: &[&str]) -> Vec<u8> {
        let mut body = body_lines.join("\n").into_bytes();
        body.push(b'\n');
        let sha = hex(&Sha256::digest(&body));
        body.extend_from_slice(format!("{{\"sha256\":\"{sha}\"}}\n").as_bytes());
        body
    }

    fn header_line(rows: u64) -> String {
        serde_json::to_string(&Header::new("MySQL", "2026-11-28T02:00:00Z".into(), rows)).unwrap()
    }

    #[tokio::test]
    async fn round_trips_multibyte_text_and_markup() {
        let rows = vec![
            employee("1", &"é".repeat(64)),
            employee("7", "\u{1F600}\"quoted\" <script>"),
        ];
        let bytes = file(&rows);
        assert_eq!(read_all(&bytes).await.unwrap(), rows);
        let header = Decoder::open(&bytes[..])
            .await
            .unwrap()
            .verify()
            .await
            .unwrap();
        assert_eq!((header.rows, header.format_version), (2, FORMAT_VERSION));
    }

    #[tokio::test]
    async fn an_empty_table_is_a_header_and_a_trailer() {
        let bytes = file(&[]);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 2);
        assert!(read_all(&bytes).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn truncation_anywhere_is_detected() {
        let bytes = file(&[employee("1", "Ada"), employee("2", "Grace")]);
        for cut in 1..bytes.len() {
            let result = Decoder::open(&bytes[..cut]).await;
            let result = match result {
                Ok(decoder) => decoder.verify().await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert!(result.is_err(), "cut at {cut} accepted");
        }
        let err = Decoder::open(&bytes[..bytes.len() - 10])
            .await
            .unwrap()
            .verify()
            .await;
        assert!(matches!(err, Err(FormatError::Truncated { .. })), "{err:?}");
    }

    #[tokio::test]
    async fn every_flipped_bit_is_detected() {
        let bytes = file(&[employee("1", "Ada"), employee("2", "Grace")]);
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            let result = match Decoder::open(&damaged[..]).await {
                Ok(decoder) => decoder.verify().await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert!(result.is_err(), "flipped byte {at} accepted");
        }
    }

    #[tokio::test]
    async fn a_flipped_byte_in_a_row_is_reported_as_damage_not_as_a_bad_row() {
        let mut bytes = file(&[employee("1", "Ada")]);
        let at = bytes.windows(3).position(|w| w == b"Ada").unwrap();
        bytes[at] = b'\\';
        let err = Decoder::open(&bytes[..])
            .await
            .unwrap()
            .verify()
            .await
            .unwrap_err();
        assert!(matches!(err, FormatError::Damaged(_)), "{err}");
    }

    #[tokio::test]
    async fn a_resealed_invalid_row_is_refused_by_the_form_rules() {
        let long = "x".repeat(65);
        let row = format!(
            r#"{{"emp_id":3,"first_name":"{long}","last_name":"L","primary_skill":"S","location":"P"}}"#
        );
        let bytes = resealed(&[&header_line(1), &row]);
        let err = Decoder::open(&bytes[..])
            .await
            .unwrap()
            .verify()
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("line 2: employee 3: First name must be at most 64"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn rows_the_form_would_change_or_refuse_are_invalid() {
        for (row, expected) in [
            (
                r#"{"emp_id":1,"first_name":" Ada","last_name":"L","primary_skill":"S","location":"P"}"#,
                "spaces",
            ),
            (
                r#"{"emp_id":0,"first_name":"Ada","last_name":"L","primary_skill":"S","location":"P"}"#,
                "1 or more",
            ),
            (
                r#"{"emp_id":1,"last_name":"L","primary_skill":"S","location":"P"}"#,
                "First name is required",
            ),
            (
                r#"{"emp_id":1,"first_name":"A","last_name":"L","primary_skill":"S","location":"P","x":1}"#,
                "unknown field",
            ),
            (
                r#"{"emp_id":"1","first_name":"A","last_name":"L","primary_skill":"S","location":"P"}"#,
                "not a row",
            ),
        ] {
            let bytes = resealed(&[&header_line(1), row]);
            let err = read_all(&bytes).await.unwrap_err().to_string();
            assert!(err.contains(expected), "{row}: {err}");
        }
    }

    #[tokio::test]
    async fn ids_must_ascend_without_repeats() {
        let row = |id| {
            format!(
                r#"{{"emp_id":{id},"first_name":"A","last_name":"L","primary_skill":"S","location":"P"}}"#
            )
        };
        let bytes = resealed(&[&header_line(2), &row(5), &row(5)]);
        let err = read_all(&bytes).await.unwrap_err().to_string();
        assert!(err.contains("ascending ID order"), "{err}");
    }

    /// Why `Decoder::open` refuses `text`.
    async fn refusal(text: &str) -> FormatError {
        Decoder::open(text.as_bytes()).await.err().unwrap()
    }

    #[tokio::test]
    async fn versions_and_strangers_are_refused_before_anything_else() {
        let newer = header_line(0).replace("\"format_version\":1", "\"format_version\":2");
        let err = refusal(&format!("{newer}\n")).await;
        assert!(
            matches!(err, FormatError::UnknownVersion { found: 2 }),
            "{err}"
        );
        let schema = header_line(0).replace("\"schema_version\":1", "\"schema_version\":9");
        let err = refusal(&format!("{schema}\n")).await;
        assert!(
            matches!(err, FormatError::NewerSchema { found: 9 }),
            "{err}"
        );
        for stranger in ["", "hello\n", "{\"format\":\"other\"}\n", "\u{89}PNG\r\n"] {
            let err = refusal(stranger).await;
            assert!(
                matches!(err, FormatError::NotABackup(_)),
                "{stranger:?}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn nothing_may_follow_the_trailer() {
        let mut bytes = file(&[employee("1", "Ada")]);
        bytes.extend_from_slice(b"\n");
        let err = read_all(&bytes).await.unwrap_err();
        assert!(matches!(err, FormatError::Damaged(_)), "{err}");
    }
}
