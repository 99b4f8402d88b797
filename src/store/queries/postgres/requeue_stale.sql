-- Attempts a crashed dispatcher had claimed go back to the queue. Sending them again is
-- safe: the provider gets the same idempotency key.
UPDATE attempts
SET state = 'queued', claimed_at = NULL, updated_at = $2
WHERE state = 'sending' AND claimed_at < $1
