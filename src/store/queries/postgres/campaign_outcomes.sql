-- Attempts of a campaign by step, channel and result, over all its runs.
SELECT a.step, a.channel, a.state, COALESCE(a.outcome, a.reason, '') AS result, COUNT(*) AS n,
       SUM(a.connected::int)::bigint AS connected
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = $1
GROUP BY a.step, a.channel, a.state, COALESCE(a.outcome, a.reason, '')
ORDER BY MIN(a.step_index), a.channel COLLATE "C", a.state COLLATE "C",
         COALESCE(a.outcome, a.reason, '') COLLATE "C"
