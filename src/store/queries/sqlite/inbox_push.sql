-- Provider events, one row per element of ?1 (a JSON array of objects with the columns
-- below, the payload as JSON text), in order, in one statement; ?2 is now. A repeat of
-- (provider, event key) is ignored. (`WHERE true` keeps SQLite from reading ON CONFLICT
-- as a join's ON.)
INSERT INTO inbox (provider, event_key, idempotency_key, kind, payload, due_at, received_at)
SELECT json_extract(value, '$.provider'), json_extract(value, '$.event_key'),
       json_extract(value, '$.idempotency_key'), json_extract(value, '$.kind'),
       json_extract(value, '$.payload'), json_extract(value, '$.due_at'), ?2
FROM jsonb_each(?1)
WHERE true
ORDER BY key
ON CONFLICT (provider, event_key) DO NOTHING
