//! Searching employees (what matches is defined in `crate::search`): one page of
//! matches in ID order and their count, through the search indexes of either backend.
//!
//! MySQL: `column LIKE 'prefix%'` on the table's case- and accent-insensitive collation,
//! a range of the column's index. SQLite: the same prefix as a range of folded text,
//! `lower <= column < upper` in the `search_fold` collation of its indexes, because
//! SQLite's `LIKE` folds ASCII letters only and ignores collations.

use std::sync::LazyLock;

use super::{Db, DbError, Pool, employee_from_row};
use crate::employee::{Employee, Field};
use crate::paging::{PAGE_SIZE, Page, PageNumber};
use crate::search::{SQLITE_COLLATION, SearchText};

/// The `LIKE` escape character on MySQL. Not a backslash: MySQL's string syntax
/// treats a backslash specially unless the server runs with `NO_BACKSLASH_ESCAPES`.
const LIKE_ESCAPE: char = '!';

/// Each text column is searched.
const SEARCHED: [Field; 4] = [
    Field::FirstName,
    Field::LastName,
    Field::PrimarySkill,
    Field::Location,
];

struct Statements {
    page: String,
    count: String,
}

impl Statements {
    /// The page and count queries, with `matches(column)` for each searched column.
    fn new(matches: impl Fn(&str) -> String) -> Statements {
        let columns = Field::ALL.map(Field::name).join(", ");
        let condition = SEARCHED.map(|field| matches(field.name())).join(" OR ");
        Statements {
            page: format!(
                "SELECT {columns} FROM employee WHERE {condition} ORDER BY {} LIMIT ? OFFSET ?",
                Field::EmpId.name()
            ),
            count: format!("SELECT COUNT(*) FROM employee WHERE {condition}"),
        }
    }
}

static MYSQL: LazyLock<Statements> =
    LazyLock::new(|| Statements::new(|column| format!("{column} LIKE ? ESCAPE '{LIKE_ESCAPE}'")));

static SQLITE: LazyLock<Statements> = LazyLock::new(|| {
    Statements::new(|column| {
        format!(
            "({column} COLLATE {SQLITE_COLLATION} >= ? AND {column} COLLATE {SQLITE_COLLATION} < ?)"
        )
    })
});

impl Db {
    /// One page of the employees that match `text`, ordered by ID, with their count.
    pub async fn search(
        &self,
        text: &SearchText,
        number: PageNumber,
    ) -> Result<Page<Employee>, DbError> {
        let (sql, values) = self.search_statements(text);
        let rows = self
            .run(async {
                on_pool!(&self.pool, p => {
                    let mut query = sqlx::query(sql.page.as_str());
                    for value in &values {
                        query = query.bind(value.as_str());
                    }
                    query
                        .bind(PAGE_SIZE)
                        .bind(number.offset())
                        .fetch_all(p)
                        .await
                        .and_then(|rows| rows.iter().map(employee_from_row).collect())
                })
            })
            .await?;
        let total = self
            .run(async {
                on_pool!(&self.pool, p => {
                    let mut query = sqlx::query_scalar::<_, i64>(sql.count.as_str());
                    for value in &values {
                        query = query.bind(value.as_str());
                    }
                    query.fetch_one(p).await
                })
            })
            .await?;
        Ok(Page::new(number, rows, total))
    }

    /// This backend's statements and the values they bind, in order.
    fn search_statements(&self, text: &SearchText) -> (&'static Statements, Vec<String>) {
        match self.pool {
            Pool::MySql(_) => (&*MYSQL, vec![text.like_prefix(LIKE_ESCAPE); SEARCHED.len()]),
            Pool::Sqlite(_) => {
                let (lower, upper) = text.folded_range();
                let bounds = [lower.to_owned(), upper];
                (
                    &*SQLITE,
                    bounds
                        .iter()
                        .cycle()
                        .take(2 * SEARCHED.len())
                        .cloned()
                        .collect(),
                )
            }
        }
    }
}
