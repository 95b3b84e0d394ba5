//! One integration test binary: every module drives the real app over HTTP.

mod support;

mod background;
mod backup;
mod bad_input;
mod browser;
mod container;
mod cross_site;
mod db_tls;
mod edit_delete_search;
mod employees;
mod faults;
mod hygiene;
mod metrics;
mod pages;
mod proxy;
mod reads;
mod resilience;
mod rollout;
mod shutdown;
mod startup;
mod traces;
