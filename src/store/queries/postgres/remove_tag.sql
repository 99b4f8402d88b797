DELETE FROM contact_tags
WHERE contact_id = $1 AND tag = $2
