-- (contact id, list name) for every list membership of these contacts.
-- ?1: JSON array of contact ids.
SELECT m.contact_id, l.name
FROM list_members m
JOIN contact_lists l ON l.id = m.list_id
WHERE m.contact_id IN (SELECT value FROM json_each(?1))
ORDER BY m.contact_id, l.name
