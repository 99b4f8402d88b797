-- `sending` → `sent` for many attempts in one statement (?1: a JSON array of
-- {id, at, ref}; ?2 now), each only if still `sending`; returns the attempts that moved.
UPDATE attempts
SET state = 'sent', sent_at = u.at, provider_ref = u.ref, updated_at = ?2
FROM (
    SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.at') AS at,
           json_extract(value, '$.ref') AS ref
    FROM jsonb_each(?1)
) AS u
-- `+` keeps SQLite from driving the join by the state index (every open attempt, each
-- matched against the whole array): the array drives it, by primary key.
WHERE attempts.id = u.id AND +attempts.state = 'sending'
RETURNING attempts.id
