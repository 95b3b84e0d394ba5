-- SQLite does not enforce VARCHAR widths; the application's validation does
-- (src/employee.rs), with the same 64-character limit as the MySQL schema.
CREATE TABLE IF NOT EXISTS employee (
    emp_id        INTEGER NOT NULL PRIMARY KEY,
    first_name    TEXT    NOT NULL,
    last_name     TEXT    NOT NULL,
    primary_skill TEXT    NOT NULL,
    location      TEXT    NOT NULL
);
