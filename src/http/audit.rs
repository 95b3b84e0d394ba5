//! The audit trail: one log line per change to the employee table, so an operator can
//! tell who changed what when (with sign-in in front of the app, its access log maps the
//! request ID to a person). Written inside the request's trace span, which carries the
//! request ID (`layers::around`), so each line names the request that made the change.
//! Values are personal data and stay out of the log: only the ID and the names of the
//! fields that changed.

use crate::employee::{EmpId, Field};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Updated,
    Deleted,
}

/// Logs one change: `employee added|updated|deleted emp_id=… fields="first_name,…"`.
pub fn record(change: Change, emp_id: EmpId, fields: &[Field]) {
    let emp_id = emp_id.get();
    let fields = fields
        .iter()
        .map(|field| field.name())
        .collect::<Vec<_>>()
        .join(",");
    // The message is the event's name, so each kind is its own call.
    match change {
        Change::Added => tracing::info!(emp_id, fields, "employee added"),
        Change::Updated => tracing::info!(emp_id, fields, "employee updated"),
        Change::Deleted => tracing::info!(emp_id, fields, "employee deleted"),
    }
}
