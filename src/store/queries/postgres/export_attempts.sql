-- `herald export attempts`: the columns of export::tables::ATTEMPTS, in order (a test checks).
-- $1 campaign or NULL; $2 since, $3 until (NULL: open), half-open on attempts.created_at.
SELECT a.id AS attempt_id, a.run_id, r.campaign, a.contact_id, c.external_id, a.step, a.channel,
       a.attempt_no::bigint AS attempt_no, a.variant, a.prompt, a.state, a.outcome, a.reason,
       a.connected, a.not_before, a.sent_at, a.idempotency_key, a.provider_ref, a.created_at,
       a.updated_at
FROM attempts a
JOIN runs r ON r.id = a.run_id
JOIN contacts c ON c.id = a.contact_id
WHERE ($1::text IS NULL OR r.campaign = $1)
  AND ($2::timestamptz IS NULL OR a.created_at >= $2)
  AND ($3::timestamptz IS NULL OR a.created_at < $3)
ORDER BY a.id
