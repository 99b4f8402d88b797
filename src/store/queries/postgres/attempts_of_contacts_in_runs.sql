-- Attempts of the contacts in $2 within the runs in $1 (arrays of ids); the caller keeps
-- the (run, contact) pairs it asked about. Looked up contact by contact (the index on run
-- and contact), so a big run is never scanned whole, whatever plan the statement keeps.
SELECT a.id, a.run_id, r.campaign, a.contact_id, a.step, a.step_index, a.channel, a.attempt_no, a.not_before, a.state, a.idempotency_key, a.obligation, a.after_attempt, a.condition, a.variant, a.prompt, a.connected, a.sent_at, a.provider_ref, a.outcome, a.reason
FROM UNNEST($2::bigint[]) AS k (contact_id)
CROSS JOIN LATERAL (
    SELECT * FROM attempts x WHERE x.contact_id = k.contact_id AND x.run_id = ANY($1::bigint[])
) a
JOIN runs r ON r.id = a.run_id
ORDER BY a.id
