-- Members of list ?1: one per element of ?2 (a JSON array of contact ids); ?3 is now.
INSERT INTO list_members (list_id, contact_id, added_at)
SELECT ?1, value, ?3 FROM json_each(?2)
WHERE true
ON CONFLICT (list_id, contact_id) DO NOTHING
