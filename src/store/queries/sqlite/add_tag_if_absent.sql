INSERT INTO contact_tags (contact_id, tag, source, created_at, expires_at)
VALUES (?1, ?2, ?3, ?4, NULL)
ON CONFLICT (contact_id, tag) DO NOTHING
