-- The row's version, which an edit form carries (see migrations/mysql/0002): every
-- update adds 1; existing rows start at 1.
ALTER TABLE employee ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
