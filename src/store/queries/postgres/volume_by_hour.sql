-- Attempts sent per hour (UTC, `YYYY-MM-DD HH`) and channel by a campaign's runs.
SELECT to_char(a.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') AS hour, a.channel, COUNT(*) AS n
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = $1 AND a.sent_at IS NOT NULL
GROUP BY 1, a.channel
ORDER BY 1, a.channel COLLATE "C"
