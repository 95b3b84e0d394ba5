//! Editing and deleting employees without losing anyone's change (optimistic
//! concurrency).
//!
//! Every row has a `version` (migrations: 1 when added) that each saved edit raises by
//! one. An edit form carries the version it was loaded from; a save is written only
//! `WHERE version = <that version>`, so of two people saving over the same version one
//! wins and the other is told (`Updated::Stale`, with what is stored now) instead of
//! silently undoing the first change. A version number rather than the row's old values
//! in the form: the columns compare case-insensitively on MySQL, so a change of case
//! alone would not count as a change, and the form stays small.

use std::sync::LazyLock;

use sqlx::Row;

use super::{Db, DbError, Pool, employee_from_row, metrics};
use crate::employee::{EmpId, Employee, Field, Version};

/// A stored employee and the version it is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub employee: Employee,
    pub version: Version,
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    /// Saved as the next version, with the fields that changed. None changed (the row
    /// already holds these values): nothing was written, and the version stays.
    Saved {
        changed: Vec<Field>,
    },
    /// Someone saved another version since the form was loaded: nothing was written.
    Stale(Stored),
    NotFound,
}

const VERSION: &str = "version";
/// A delete reads the row (to confirm by name) and then removes that version of it; an
/// edit saved in between makes it read again, this many times at most.
const DELETE_ATTEMPTS: usize = 3;

struct Statements {
    select: String,
    update: String,
    delete: String,
}

static SQL: LazyLock<Statements> = LazyLock::new(|| {
    let columns = Field::ALL.map(Field::name).join(", ");
    let id = Field::EmpId.name();
    let assignments = Field::ALL
        .into_iter()
        .filter(|field| !field.is_numeric())
        .map(|field| format!("{} = ?", field.name()))
        .collect::<Vec<_>>()
        .join(", ");
    Statements {
        select: format!("SELECT {columns}, {VERSION} FROM employee WHERE {id} = ?"),
        update: format!(
            "UPDATE employee SET {assignments}, {VERSION} = {VERSION} + 1 \
             WHERE {id} = ? AND {VERSION} = ?"
        ),
        delete: format!("DELETE FROM employee WHERE {id} = ? AND {VERSION} = ?"),
    }
});

impl Db {
    /// An employee with its version, for the edit and delete pages.
    pub async fn get_stored(&self, emp_id: EmpId) -> Result<Option<Stored>, DbError> {
        self.statement(metrics::SELECT_STORED, async {
            on_pool!(&self.pool, p => sqlx::query(SQL.select.as_str())
                .bind(emp_id.get())
                .fetch_optional(p)
                .await
                .and_then(|row| row.as_ref().map(stored_from_row).transpose()))
        })
        .await
    }

    /// Saves `employee` over the version `loaded`, unless another version was saved since.
    pub async fn update(&self, loaded: Version, employee: &Employee) -> Result<Updated, DbError> {
        let emp_id = employee.emp_id();
        let Some(current) = self.get_stored(emp_id).await? else {
            return Ok(Updated::NotFound);
        };
        let changed = employee.changed_fields(&current.employee);
        if changed.is_empty() {
            // Already as wanted (even when someone else made the same change): nothing
            // to write, and nobody's change is lost.
            return Ok(Updated::Saved { changed });
        }
        if current.version != loaded {
            return Ok(Updated::Stale(current));
        }
        let [first_name, last_name, primary_skill, location] = employee.text_values();
        let written = self
            .statement(metrics::UPDATE, async {
                on_pool!(&self.pool, p => sqlx::query(SQL.update.as_str())
                    .bind(first_name)
                    .bind(last_name)
                    .bind(primary_skill)
                    .bind(location)
                    .bind(emp_id.get())
                    .bind(loaded.get())
                    .execute(p)
                    .await
                    .map(|done| done.rows_affected()))
            })
            .await?;
        if written == 1 {
            return Ok(Updated::Saved { changed });
        }
        // Saved over or deleted by someone else between the read and the write.
        Ok(match self.get_stored(emp_id).await? {
            Some(now) => Updated::Stale(now),
            None => Updated::NotFound,
        })
    }

    /// Deletes an employee; `None` when there is none with that ID (never was, or
    /// already deleted). Returns the employee exactly as it was deleted.
    pub async fn delete(&self, emp_id: EmpId) -> Result<Option<Employee>, DbError> {
        for _ in 0..DELETE_ATTEMPTS {
            let Some(current) = self.get_stored(emp_id).await? else {
                return Ok(None);
            };
            let deleted = self
                .statement(metrics::DELETE, async {
                    on_pool!(&self.pool, p => sqlx::query(SQL.delete.as_str())
                        .bind(emp_id.get())
                        .bind(current.version.get())
                        .execute(p)
                        .await
                        .map(|done| done.rows_affected()))
                })
                .await?;
            if deleted == 1 {
                return Ok(Some(current.employee));
            }
        }
        Err(DbError::Unavailable(format!(
            "employee {emp_id} was saved again during each of {DELETE_ATTEMPTS} attempts to delete it"
        )))
    }
}

/// An employee and its version from a row of either backend.
fn stored_from_row<R: Row>(row: &R) -> Result<Stored, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Stored {
        employee: employee_from_row(row)?,
        version: Version::from_stored(row.try_get(VERSION)?),
    })
}
