-- `sending` → `done` for the claimed rows in ?1 (a JSON array of ids; SQLite has no array
-- type) at ?2.
UPDATE bench_raw_attempts
SET state = 'done', updated_at = ?2
WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'sending'
