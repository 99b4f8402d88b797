-- The daemons that share this database, the most recently seen first.
SELECT id, host, pid, started_at, seen_at FROM daemons ORDER BY seen_at DESC, id
