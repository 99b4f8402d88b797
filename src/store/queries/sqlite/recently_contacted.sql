-- Contacts among ?2 (JSON array of ids) that campaign ?1 attempted since ?3.
SELECT DISTINCT a.contact_id
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = ?1
  AND a.contact_id IN (SELECT value FROM json_each(?2))
  AND a.sent_at IS NOT NULL
  AND a.sent_at > ?3
