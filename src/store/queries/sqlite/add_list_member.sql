INSERT INTO list_members (list_id, contact_id, added_at)
VALUES (?1, ?2, ?3)
ON CONFLICT (list_id, contact_id) DO NOTHING
