//! Employee database web app: the library behind the `employee-db` binary, so the
//! integration tests run exactly what production runs.
//!
//! Dependencies read one way: `startup` assembles `server` and `http`, which use the
//! domain modules (`employee`, `paging`, `search`, `db`, `background`, `lifecycle`), which use
//! `config`. `cli` runs the one-off commands: `backup` (to a file or S3 and back) uses
//! `db` and `s3`, the S3 client it shares with `background`.

pub mod background;
pub mod backup;
pub mod cli;
pub mod config;
pub mod db;
pub mod employee;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod paging;
pub mod s3;
pub mod search;
pub mod server;
pub mod startup;
pub mod telemetry;
