-- $2: the skills as a JSON array (text).
INSERT INTO agents (name, skills, capacity, created_at)
VALUES ($1, $2::jsonb, $3, $4)
ON CONFLICT (name) DO UPDATE SET skills = excluded.skills, capacity = excluded.capacity
