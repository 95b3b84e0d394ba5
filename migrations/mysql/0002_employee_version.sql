-- The row's version, which an edit form carries so that a save over someone else's
-- newer change is refused (src/db/edit.rs). Every update adds 1. Rows stored before
-- this migration, and rows added by a replica still running the previous release
-- during a rolling update (its INSERT names its five columns), start at 1.
-- Adding a column with a constant default is an instant, metadata-only change in
-- MariaDB 10.3+ and MySQL 8.0+: no table copy, no lock held while rows are rewritten.
ALTER TABLE employee ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
