-- Events of a campaign's attempts by kind (delivered, opened, replied, opted_out...).
SELECT e.kind, COUNT(*) AS n
FROM events e
JOIN attempts a ON a.id = e.attempt_id
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = $1
GROUP BY e.kind
ORDER BY e.kind COLLATE "C"
