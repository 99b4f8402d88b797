-- Claims, for the worker named ?3, up to ?2 rows due at ?1 in due order, as herald's
-- `claim_due` does without its held-runs filter. No lock clause: SQLite has one writer.
UPDATE bench_raw_attempts
SET state = 'sending', claimed_at = ?1, claimed_by = ?3, updated_at = ?1
WHERE id IN (
    SELECT id
    FROM bench_raw_attempts
    WHERE state = 'queued' AND not_before <= ?1
    ORDER BY not_before, id
    LIMIT ?2
)
RETURNING id
