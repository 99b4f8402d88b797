-- The attempts of ?1 (JSON array of ids) still held by the claim made at ?2: an attempt
-- whose claim lapsed and was claimed again is left to its new holder.
SELECT a.id, a.run_id, r.campaign, a.contact_id, a.step, a.step_index, a.channel, a.attempt_no, a.not_before, a.state, a.idempotency_key, a.obligation, a.after_attempt, a.condition, a.variant, a.prompt, a.connected, a.sent_at, a.provider_ref, a.outcome, a.reason
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE a.id IN (SELECT value FROM json_each(?1))
  -- `+`: looked up by id, not through the state index (every attempt being sent).
  AND +a.state = 'sending'
  AND a.claimed_at = ?2
ORDER BY a.id
