-- $1: array of attempt ids.
SELECT a.id, a.run_id, r.campaign, a.contact_id, a.step, a.step_index, a.channel, a.attempt_no, a.not_before, a.state, a.idempotency_key, a.obligation, a.after_attempt, a.condition, a.variant, a.prompt, a.connected, a.sent_at, a.provider_ref, a.outcome, a.reason
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE a.id = ANY($1::bigint[])
ORDER BY a.id
