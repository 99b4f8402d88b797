-- $2: array of channels whose queued attempts are cancelled; $5: only in this run (NULL:
-- in every run).
UPDATE attempts
SET state = 'cancelled', reason = $3, updated_at = $4
WHERE contact_id = $1
  AND state = 'queued'
  AND channel = ANY($2::text[])
  AND ($5::bigint IS NULL OR run_id = $5)
