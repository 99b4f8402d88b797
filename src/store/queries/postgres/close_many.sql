-- Many attempts to a final state in one statement ($1 ids, $2 states, $3 outcomes, $4
-- connected flags, $5 reasons, $6 now), each once; returns the attempts that moved.
UPDATE attempts a
SET state = u.state, outcome = u.outcome, connected = u.connected, reason = u.reason,
    updated_at = $6
FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::boolean[], $5::text[])
     AS u (id, state, outcome, connected, reason)
WHERE a.id = u.id AND a.state IN ('queued', 'sending', 'sent')
RETURNING a.id
