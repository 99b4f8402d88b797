-- The latest SMS sent since ?2 to a contact with phone ?1: the message a reply answers.
SELECT a.idempotency_key
FROM contacts c
JOIN attempts a ON a.contact_id = c.id
WHERE c.phone = ?1 AND a.channel = 'sms' AND a.sent_at IS NOT NULL AND a.sent_at >= ?2
ORDER BY a.sent_at DESC, a.id DESC
LIMIT 1
