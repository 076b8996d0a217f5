-- PostgreSQL's change feed names the versions of user changes; an embedded SQLite database
-- has no feed (its one node sees every write), so nothing changes here.
SELECT 1;
