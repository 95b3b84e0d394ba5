//! One integration test binary: every module drives the real app over HTTP.

mod helpers;
mod mariadb;

mod bad_input;
mod employees;
mod faults;
mod hygiene;
mod pages;
mod resilience;
mod startup;
