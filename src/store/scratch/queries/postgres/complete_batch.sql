-- `sending` → `done` for the claimed rows in $1 at $2.
UPDATE bench_raw_attempts
SET state = 'done', updated_at = $2
WHERE id = ANY ($1::bigint[]) AND state = 'sending'
