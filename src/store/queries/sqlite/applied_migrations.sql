-- herald's migrations this database has applied, with when (UTC, `YYYY-MM-DD HH:MM:SS`).
SELECT version, CAST(installed_on AS TEXT) AS applied_at
FROM herald_migrations
WHERE success
ORDER BY version
