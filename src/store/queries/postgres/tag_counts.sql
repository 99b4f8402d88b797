-- Tags in force at $1, with how many contacts carry each.
SELECT tag, COUNT(*) AS contacts
FROM contact_tags
WHERE expires_at IS NULL OR expires_at > $1
GROUP BY tag
ORDER BY tag COLLATE "C"
