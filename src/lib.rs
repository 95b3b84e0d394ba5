//! Employee database web app: the library behind the `employee-db` binary, so the
//! integration tests run exactly what production runs.
//!
//! Dependencies read one way: `startup` assembles `server` and `http`, which use the
//! domain modules (`employee`, `paging`, `search`, `db`, `background`, `lifecycle`), which use
//! `config`.

pub mod background;
pub mod cli;
pub mod config;
pub mod db;
pub mod employee;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod paging;
pub mod search;
pub mod server;
pub mod startup;
pub mod telemetry;
