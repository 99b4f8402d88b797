-- Contacts among $2 that campaign $1 attempted since $3.
SELECT DISTINCT a.contact_id
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = $1
  AND a.contact_id = ANY($2::bigint[])
  AND a.sent_at IS NOT NULL
  AND a.sent_at > $3
