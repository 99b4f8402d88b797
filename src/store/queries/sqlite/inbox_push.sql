INSERT INTO inbox (provider, event_key, idempotency_key, kind, payload, due_at, received_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (provider, event_key) DO NOTHING
