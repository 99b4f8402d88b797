-- Attempts made towards the contacts in $1 since $2, any campaign, for frequency caps.
-- Survey follow-ups (`prompt`) answer the person's own reply and do not count.
SELECT contact_id, channel, sent_at, connected, obligation
FROM attempts
WHERE contact_id = ANY($1::bigint[])
  AND sent_at IS NOT NULL
  AND sent_at > $2
  AND prompt IS NULL
