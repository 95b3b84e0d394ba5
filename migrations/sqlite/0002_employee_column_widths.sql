-- SQLite does not enforce VARCHAR widths: rebuild the table with CHECK constraints so it
-- refuses the same rows as the MySQL schema (64 characters per text column; SQLite's
-- length() counts characters, like MySQL's utf8mb4 VARCHAR). SQLite cannot add a CHECK
-- to an existing table, and its DDL is transactional, so the copy is all or nothing.
CREATE TABLE employee_checked (
    emp_id        INTEGER NOT NULL PRIMARY KEY,
    first_name    TEXT    NOT NULL CHECK (length(first_name) <= 64),
    last_name     TEXT    NOT NULL CHECK (length(last_name) <= 64),
    primary_skill TEXT    NOT NULL CHECK (length(primary_skill) <= 64),
    location      TEXT    NOT NULL CHECK (length(location) <= 64)
);
INSERT INTO employee_checked (emp_id, first_name, last_name, primary_skill, location)
    SELECT emp_id, first_name, last_name, primary_skill, location FROM employee;
DROP TABLE employee;
ALTER TABLE employee_checked RENAME TO employee;
