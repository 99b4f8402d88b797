SELECT l.name, COUNT(m.contact_id) AS members
FROM contact_lists l
LEFT JOIN list_members m ON m.list_id = l.id
GROUP BY l.name
ORDER BY l.name COLLATE "C"
