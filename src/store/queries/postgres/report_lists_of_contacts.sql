-- (contact id, list name) for every list membership of the contacts in $1.
SELECT m.contact_id, l.name
FROM list_members m
JOIN contact_lists l ON l.id = m.list_id
WHERE m.contact_id = ANY($1::bigint[])
ORDER BY m.contact_id, l.name COLLATE "C"
