-- PostgreSQL's change feed moves to a change log the nodes read; an embedded SQLite database
-- has no feed (its one node sees every write), so nothing changes here.
SELECT 1;
