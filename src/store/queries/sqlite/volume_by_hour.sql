-- Attempts sent per hour (UTC, `YYYY-MM-DD HH`) and channel by a campaign's runs. SQLite
-- stores times as text (`2026-11-25T09:00:00+00:00` or with a space), so the hour is the
-- first 13 characters, with the documented space.
SELECT replace(substr(a.sent_at, 1, 13), 'T', ' ') AS hour, a.channel, COUNT(*) AS n
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = ?1 AND a.sent_at IS NOT NULL
GROUP BY hour, a.channel
ORDER BY hour, a.channel
