-- Marks inbox items (?1, a JSON array of ids) applied, each once; returns the items marked now.
UPDATE inbox SET applied_at = ?2
-- `+`: looked up by id, not through the pending index (every event not applied yet).
WHERE id IN (SELECT value FROM json_each(?1)) AND +applied_at IS NULL
RETURNING id
