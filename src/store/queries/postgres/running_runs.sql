SELECT id, campaign, occurrence, state, summary, created_at, finished_at
FROM runs
WHERE state = 'running'
ORDER BY id
