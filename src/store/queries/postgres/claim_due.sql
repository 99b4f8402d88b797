-- Claims, for the daemon named $3, up to $2 attempts due at $1 in one statement. The rows
-- are locked as they are picked and rows another daemon is claiming are skipped (SKIP
-- LOCKED), so two daemons never take the same attempt and never wait for each other.
-- Attempts of the runs in $4 (paused or cancelled campaigns, from `held_runs`) stay where
-- they are. Due attempts are read in claim order from `attempts_queued_due`, stopping after
-- one batch (the held runs are a parameter, not a join, so the planner keeps that order).
UPDATE attempts
SET state = 'sending', claimed_at = $1, claimed_by = $3, updated_at = $1
WHERE id IN (
    SELECT a.id
    FROM attempts a
    WHERE a.state = 'queued' AND a.not_before <= $1
      AND a.run_id <> ALL ($4::bigint[])
    ORDER BY a.not_before, a.id
    LIMIT $2
    FOR UPDATE OF a SKIP LOCKED
)
RETURNING id
