-- Attempts by channel and state, for /metrics.
SELECT channel, state, COUNT(*) AS n FROM attempts GROUP BY channel, state ORDER BY channel COLLATE "C", state COLLATE "C"
