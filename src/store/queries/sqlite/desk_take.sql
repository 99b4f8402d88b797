-- Gives an attempt to an agent, once: two agents never hold the same call.
UPDATE attempts SET held_by = ?2, held_at = ?3, updated_at = ?3
WHERE id = ?1 AND state = 'sent' AND held_by IS NULL
