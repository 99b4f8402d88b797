-- Provider events, one row per element of the arrays $2..$6 (payloads as JSON text), in
-- one statement; a repeat of (provider, event key) is ignored.
INSERT INTO inbox (provider, event_key, idempotency_key, kind, payload, due_at, received_at)
SELECT $1::text, i.event_key, i.idempotency_key, i.kind, i.payload::jsonb, i.due_at, $7::timestamptz
FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     WITH ORDINALITY AS i (event_key, idempotency_key, kind, payload, due_at, n)
ORDER BY i.n
ON CONFLICT (provider, event_key) DO NOTHING
