-- Many attempts to a final state in one statement (?1: a JSON array of
-- {id, state, outcome, connected, reason}; ?2 now), each once; returns the attempts that moved.
UPDATE attempts
SET state = u.state, outcome = u.outcome, connected = u.connected, reason = u.reason,
    updated_at = ?2
FROM (
    SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.state') AS state,
           json_extract(value, '$.outcome') AS outcome,
           json_extract(value, '$.connected') AS connected,
           json_extract(value, '$.reason') AS reason
    FROM jsonb_each(?1)
) AS u
-- `+` keeps SQLite from driving the join by the state index (every open attempt, each
-- matched against the whole array): the array drives it, by primary key.
WHERE attempts.id = u.id AND +attempts.state IN ('queued', 'sending', 'sent')
RETURNING attempts.id
