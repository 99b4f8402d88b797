-- Tags: one per element of ?1 (a JSON array of [contact id, tag] pairs), with source ?2 and
-- time ?3; a tag the contact already has is left alone.
INSERT INTO contact_tags (contact_id, tag, source, created_at, expires_at)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?2, ?3, NULL
FROM jsonb_each(?1)
WHERE true
ON CONFLICT (contact_id, tag) DO NOTHING
