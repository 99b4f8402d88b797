UPDATE attempts
SET state = 'cancelled', reason = $2, updated_at = $3
WHERE state = 'queued' AND run_id IN (SELECT id FROM runs WHERE campaign = $1)
