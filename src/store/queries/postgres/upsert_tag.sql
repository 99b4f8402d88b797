INSERT INTO contact_tags (contact_id, tag, source, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (contact_id, tag) DO UPDATE SET
    source = excluded.source,
    expires_at = excluded.expires_at
