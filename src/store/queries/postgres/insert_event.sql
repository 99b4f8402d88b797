INSERT INTO events (attempt_id, kind, detail, payload, occurred_at, recorded_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
