-- Contacts among ?2 (JSON array of ids) still inside a sequence of campaign ?1 that a run
-- other than ?3 started: one of its attempts is queued, being sent, or sent and waiting for
-- its outcome (a sequence's next step is queued when the step before it ends, so a
-- sequence is live exactly while it has an open attempt).
SELECT DISTINCT a.contact_id
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = ?1
  AND a.contact_id IN (SELECT value FROM json_each(?2))
  AND a.state IN ('queued', 'sending', 'sent')
  AND a.run_id <> ?3
