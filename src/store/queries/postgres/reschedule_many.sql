-- Many attempts back to the queue in one statement ($1 ids, $2 not-before times, $3
-- reasons, $4 now), each only if still open; returns the attempts that moved.
UPDATE attempts a
SET state = 'queued', not_before = u.not_before, reason = u.reason, claimed_at = NULL,
    claimed_by = NULL, updated_at = $4
FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[]) AS u (id, not_before, reason)
WHERE a.id = u.id AND a.state IN ('queued', 'sending')
RETURNING a.id
