-- An opt-out is the strongest outcome: it replaces whatever the attempt had.
UPDATE attempts
SET state = CASE WHEN state IN ('queued', 'sending', 'sent') THEN 'done' ELSE state END,
    outcome = 'opted_out', connected = TRUE, updated_at = $2
WHERE id = $1
