-- The attempts in ?1 (a JSON array of ids) reached their person.
UPDATE attempts SET connected = 1, updated_at = ?2 WHERE id IN (SELECT value FROM json_each(?1))
