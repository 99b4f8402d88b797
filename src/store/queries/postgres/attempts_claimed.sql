-- The attempts of $1 (array of ids) still held by the claim made at $2: an attempt whose
-- claim lapsed and was claimed again is left to its new holder. Looked up id by id.
SELECT a.id, a.run_id, r.campaign, a.contact_id, a.step, a.step_index, a.channel, a.attempt_no, a.not_before, a.state, a.idempotency_key, a.obligation, a.after_attempt, a.condition, a.variant, a.prompt, a.connected, a.sent_at, a.provider_ref, a.outcome, a.reason
FROM UNNEST($1::bigint[]) AS k (id)
JOIN attempts a ON a.id = k.id
JOIN runs r ON r.id = a.run_id
WHERE a.state = 'sending'
  AND a.claimed_at = $2
ORDER BY a.id
