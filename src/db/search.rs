//! Searching employees (what matches is defined in `crate::search`): one page of
//! matches in ID order and their count, through the search indexes of either backend.
//!
//! MySQL: `column LIKE 'prefix%'` on the table's case- and accent-insensitive collation,
//! a range of the column's index. SQLite: the same prefix as a range of folded text,
//! `lower <= column < upper` in the `search_fold` collation of its indexes, because
//! SQLite's `LIKE` folds ASCII letters only and ignores collations.

use std::sync::LazyLock;

use super::{Db, DbError, Pool, employee_from_row, metrics};
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
    /// The page and count queries, with `matches(column)` for each searched column (both
    /// bind the same values in the same order).
    ///
    /// The page is one `OR` of the four conditions: for a selective text the planner
    /// merges the four index ranges, and for a broad one (a single letter) it walks the
    /// primary key in ID order and stops at the page's last row. The count is a `UNION`
    /// of the four ranges instead: each reads only its index (which holds the ID), where
    /// the `OR` of a broad text is a scan of the whole table (MariaDB 10.11, 100,000
    /// rows of scripts/bench/search.sh, "m": 40-60 ms as an `OR`, 21-24 ms as the `UNION`).
    fn new(matches: impl Fn(&str) -> String) -> Statements {
        let columns = Field::ALL.map(Field::name).join(", ");
        let id = Field::EmpId.name();
        let condition = SEARCHED.map(|field| matches(field.name())).join(" OR ");
        let each_range = SEARCHED
            .map(|field| format!("SELECT {id} FROM employee WHERE {}", matches(field.name())))
            .join(" UNION ");
        Statements {
            page: format!(
                "SELECT {columns} FROM employee WHERE {condition} ORDER BY {id} LIMIT ? OFFSET ?"
            ),
            count: format!("SELECT COUNT(*) FROM ({each_range}) AS matches"),
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
            .statement(metrics::SEARCH_PAGE, async {
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
            .statement(metrics::SEARCH_COUNT, async {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for `sql` with `values` bound, one line per step.
    async fn sqlite_plan(db: &Db, sql: &str, values: &[String]) -> String {
        let Pool::Sqlite(pool) = &db.pool else {
            unreachable!("an SQLite path makes an SQLite pool")
        };
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(explain));
        for value in values {
            query = query.bind(value.as_str());
        }
        let (limit, offset) = (PAGE_SIZE, 0_i64);
        if sql.ends_with("OFFSET ?") {
            query = query.bind(limit).bind(offset);
        }
        let rows = query.fetch_all(pool).await.unwrap();
        rows.into_iter()
            .map(|(_, _, _, step)| step)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The search indexes, built in the app's collation, answer both queries on SQLite:
    /// no step reads the whole table.
    #[tokio::test]
    async fn sqlite_searches_through_the_indexes() {
        let (_dir, db) = crate::db::tests::sqlite_db(1).await;
        let text = SearchText::parse(Some("Lov")).unwrap().unwrap();
        let (sql, values) = db.search_statements(&text);
        for statement in [&sql.page, &sql.count] {
            let plan = sqlite_plan(&db, statement, &values).await;
            for field in SEARCHED {
                let index = format!("INDEX employee_{} ", field.name());
                assert!(plan.contains(&index), "{index} unused:\n{plan}");
            }
            assert!(!plan.contains("SCAN employee"), "a full scan:\n{plan}");
        }
    }
}
