-- One index per searched column, in the app's `search_fold` collation (src/search.rs:
-- case and accents ignored, as MySQL's utf8mb4_unicode_ci does), so a search is four
-- index ranges. SQLite's own NOCASE folds ASCII letters only. The collation exists only
-- in the app's connections: the sqlite3 shell can read this file, but writing to the
-- table from it fails with "no such collation sequence".
CREATE INDEX employee_first_name ON employee (first_name COLLATE search_fold);
CREATE INDEX employee_last_name ON employee (last_name COLLATE search_fold);
CREATE INDEX employee_primary_skill ON employee (primary_skill COLLATE search_fold);
CREATE INDEX employee_location ON employee (location COLLATE search_fold);
