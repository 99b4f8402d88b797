INSERT INTO campaigns (id, state, updated_at)
VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
