-- One statement per file: MySQL commits DDL implicitly, so a second statement that
-- failed would leave the migration half applied.
CREATE TABLE IF NOT EXISTS employee (
    emp_id        BIGINT      NOT NULL PRIMARY KEY,
    first_name    VARCHAR(64) NOT NULL,
    last_name     VARCHAR(64) NOT NULL,
    primary_skill VARCHAR(64) NOT NULL,
    location      VARCHAR(64) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
