-- Adds the contacts in $2 to list $1 (members already there stay as they were).
INSERT INTO list_members (list_id, contact_id, added_at)
SELECT $1, m.contact_id, $3
FROM UNNEST($2::bigint[]) AS m (contact_id)
ON CONFLICT (list_id, contact_id) DO NOTHING
