-- Attempts, one row per element of ?1 (a JSON array of objects with the columns below), in
-- order, in one statement; ?2 is now. An attempt whose idempotency key exists is left
-- alone. (`WHERE true` keeps SQLite from reading ON CONFLICT as a join's ON.)
INSERT INTO attempts (run_id, contact_id, step, step_index, channel, attempt_no, not_before, state,
                      idempotency_key, obligation, after_attempt, condition, created_at, updated_at,
                      variant, prompt)
SELECT json_extract(value, '$.run_id'), json_extract(value, '$.contact_id'),
       json_extract(value, '$.step'), json_extract(value, '$.step_index'),
       json_extract(value, '$.channel'), json_extract(value, '$.attempt_no'),
       json_extract(value, '$.not_before'), 'queued', json_extract(value, '$.key'),
       json_extract(value, '$.obligation'), json_extract(value, '$.after_attempt'),
       json_extract(value, '$.condition'), ?2, ?2, json_extract(value, '$.variant'),
       json_extract(value, '$.prompt')
FROM jsonb_each(?1)
WHERE true
ORDER BY key
ON CONFLICT (idempotency_key) DO NOTHING
