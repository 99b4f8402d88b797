-- Moves an attempt to a final state once; a second outcome for it changes nothing.
UPDATE attempts
SET state = $2, outcome = $3, connected = $4, reason = $5, updated_at = $6
WHERE id = $1 AND state IN ('queued', 'sending', 'sent')
