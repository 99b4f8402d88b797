INSERT INTO contact_lists (name, created_at)
VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET name = excluded.name
RETURNING id
