-- `herald export responses`: the columns of export::tables::RESPONSES, in order (a test
-- checks). $1 campaign or NULL; $2 since, $3 until (NULL: open), half-open on answered_at.
SELECT s.id AS response_id, s.run_id, s.attempt_id, s.campaign, s.contact_id, c.external_id,
       s.question, s.kind, s.score::bigint AS score, s.answer, s.raw, s.channel, s.variant,
       s.revision::bigint AS revision, s.first_answered_at, s.answered_at
FROM responses s
JOIN contacts c ON c.id = s.contact_id
WHERE ($1::text IS NULL OR s.campaign = $1)
  AND ($2::timestamptz IS NULL OR s.answered_at >= $2)
  AND ($3::timestamptz IS NULL OR s.answered_at < $3)
ORDER BY s.id
