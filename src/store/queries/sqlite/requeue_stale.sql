-- Attempts a stopped dispatcher had claimed go back to the queue: those claimed before
-- ?1 (the lease), and those of a daemon not seen since ?3 (it died). Sending them again is
-- safe: the provider gets the same idempotency key, and the ledger records one send.
UPDATE attempts
SET state = 'queued', claimed_at = NULL, claimed_by = NULL, updated_at = ?2
WHERE state = 'sending'
  AND (claimed_at < ?1 OR claimed_by IN (SELECT id FROM daemons WHERE seen_at < ?3))
