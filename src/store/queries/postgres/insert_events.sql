-- Events, one row per element of the arrays $1..$5 (payloads as JSON text), in order, in
-- one statement.
INSERT INTO events (attempt_id, kind, detail, payload, occurred_at, recorded_at)
SELECT e.attempt_id, e.kind, e.detail, e.payload::jsonb, e.occurred_at, $6::timestamptz
FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     WITH ORDINALITY AS e (attempt_id, kind, detail, payload, occurred_at, n)
ORDER BY e.n
