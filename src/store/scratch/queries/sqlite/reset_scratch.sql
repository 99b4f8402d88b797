-- Every scratch row back to `queued` and unclaimed, before a claim measurement.
UPDATE bench_raw_attempts
SET state = 'queued', claimed_at = NULL, claimed_by = NULL
