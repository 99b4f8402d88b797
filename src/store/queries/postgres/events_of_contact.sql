SELECT e.occurred_at, e.kind, e.detail, e.payload::text AS payload, a.step, a.channel, a.attempt_no, r.campaign
FROM events e
JOIN attempts a ON a.id = e.attempt_id
JOIN runs r ON r.id = a.run_id
WHERE a.contact_id = $1
ORDER BY e.occurred_at, e.id
LIMIT $2
