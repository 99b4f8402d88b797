-- $1: contact ids.
SELECT contact_id, tag, source, expires_at
FROM contact_tags
WHERE contact_id = ANY($1::bigint[])
ORDER BY contact_id, tag COLLATE "C"
