-- herald's migrations this database has applied, with when (UTC, `YYYY-MM-DD HH:MM:SS`).
SELECT version, to_char(installed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS applied_at
FROM herald_migrations
WHERE success
ORDER BY version
