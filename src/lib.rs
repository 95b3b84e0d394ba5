//! Employee database web app: the library behind the `employee-db` binary, so the
//! integration tests run exactly what production runs.

pub mod background;
pub mod cli;
pub mod config;
pub mod db;
pub mod employee;
pub mod error;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod views;
