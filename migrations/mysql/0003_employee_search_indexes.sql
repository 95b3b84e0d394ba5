-- One B-tree index per searched column (src/search.rs): `column LIKE 'prefix%'` on the
-- table's case- and accent-insensitive collation is a range of each index, and a search
-- of the four columns reads the union of four ranges (index merge) instead of every
-- row. One statement, so the migration is all or nothing; InnoDB builds the indexes
-- in place while reads and writes continue.
ALTER TABLE employee
    ADD INDEX employee_first_name (first_name),
    ADD INDEX employee_last_name (last_name),
    ADD INDEX employee_primary_skill (primary_skill),
    ADD INDEX employee_location (location);
