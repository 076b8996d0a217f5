-- The change feed of the PostgreSQL backend tells other nodes about writes. A SQLite database
-- serves one node, whose writes all pass its one writer connection; nothing to add here.
SELECT 1;
