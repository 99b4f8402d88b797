SELECT l.name
FROM list_members m
JOIN contact_lists l ON l.id = m.list_id
WHERE m.contact_id = $1
ORDER BY l.name COLLATE "C"
