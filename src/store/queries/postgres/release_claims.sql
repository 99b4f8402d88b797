-- A daemon stopping gives back the attempts it claimed and did not dispatch.
UPDATE attempts
SET state = 'queued', claimed_at = NULL, claimed_by = NULL, updated_at = $2
WHERE state = 'sending' AND claimed_by = $1
