-- Many attempts back to the queue in one statement (?1: a JSON array of
-- {id, not_before, reason}; ?2 now), each only if still open; returns the attempts that moved.
UPDATE attempts
SET state = 'queued', not_before = u.not_before, reason = u.reason, claimed_at = NULL,
    claimed_by = NULL, updated_at = ?2
FROM (
    SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.not_before') AS not_before,
           json_extract(value, '$.reason') AS reason
    FROM jsonb_each(?1)
) AS u
-- `+` keeps SQLite from driving the join by the state index (every open attempt, each
-- matched against the whole array): the array drives it, by primary key.
WHERE attempts.id = u.id AND +attempts.state IN ('queued', 'sending')
RETURNING attempts.id
