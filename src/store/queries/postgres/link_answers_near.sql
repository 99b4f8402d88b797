-- How many different answers to one question ($2 = 'link:QUESTION:') came by link for
-- attempt key $1 with due moments between $3 and $4: three or more is a scanner's sweep.
SELECT COUNT(DISTINCT payload)
FROM inbox
WHERE provider = 'web'
  AND idempotency_key = $1
  AND starts_with(event_key, $2::text)
  AND due_at BETWEEN $3 AND $4
