-- Attempts sent per hour (UTC) and channel by a campaign's runs. SQLite stores times as
-- text, so the hour is the first 13 characters.
SELECT substr(a.sent_at, 1, 13) AS hour, a.channel, COUNT(*) AS n
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = ?1 AND a.sent_at IS NOT NULL
GROUP BY hour, a.channel
ORDER BY hour, a.channel
