-- ?1: JSON array of contact ids.
SELECT contact_id, tag, source, expires_at
FROM contact_tags
WHERE contact_id IN (SELECT value FROM json_each(?1))
ORDER BY contact_id, tag
