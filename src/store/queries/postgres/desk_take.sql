-- Gives an attempt to an agent, once: two agents never hold the same call. The row is
-- locked as it is checked; a row another agent is taking is skipped (SKIP LOCKED), so the
-- second agent gets nothing at once instead of waiting.
UPDATE attempts SET held_by = $2, held_at = $3, updated_at = $3
WHERE id = (
    SELECT id FROM attempts
    WHERE id = $1 AND state = 'sent' AND held_by IS NULL
    FOR UPDATE SKIP LOCKED
)
  AND state = 'sent' AND held_by IS NULL
