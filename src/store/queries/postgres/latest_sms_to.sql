-- The latest SMS sent since $2 to the contact with phone $1, and how many contacts have
-- that phone: a reply from a number several contacts share cannot be attributed.
SELECT a.idempotency_key,
       (SELECT COUNT(*) FROM contacts WHERE phone = $1) AS holders
FROM contacts c
JOIN attempts a ON a.contact_id = c.id
WHERE c.phone = $1 AND a.channel = 'sms' AND a.sent_at IS NOT NULL AND a.sent_at >= $2
ORDER BY a.sent_at DESC, a.id DESC
LIMIT 1
