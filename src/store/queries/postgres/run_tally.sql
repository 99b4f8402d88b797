-- Attempts of a run by step, channel, state and outcome.
SELECT step, channel, state, COALESCE(outcome, reason, '') AS result, COUNT(*) AS n,
       SUM(connected::int)::bigint AS connected
FROM attempts
WHERE run_id = $1
GROUP BY step, channel, state, COALESCE(outcome, reason, '')
ORDER BY MIN(step_index), channel COLLATE "C", state COLLATE "C",
         COALESCE(outcome, reason, '') COLLATE "C"
