SELECT id, provider, event_key, idempotency_key, kind, payload::text AS payload, due_at
FROM inbox
WHERE applied_at IS NULL AND due_at <= $1
ORDER BY due_at, id
LIMIT $2
