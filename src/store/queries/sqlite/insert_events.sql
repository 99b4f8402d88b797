-- Events, one row per element of ?1 (a JSON array of
-- {attempt_id, kind, detail, payload, occurred_at}, payloads as JSON text), in order, in
-- one statement.
INSERT INTO events (attempt_id, kind, detail, payload, occurred_at, recorded_at)
SELECT json_extract(value, '$.attempt_id'), json_extract(value, '$.kind'),
       json_extract(value, '$.detail'), json_extract(value, '$.payload'),
       json_extract(value, '$.occurred_at'), ?2
FROM jsonb_each(?1)
ORDER BY key
