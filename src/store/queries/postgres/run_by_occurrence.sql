SELECT id, campaign, occurrence, state, summary, created_at, finished_at
FROM runs
WHERE campaign = $1 AND occurrence = $2
