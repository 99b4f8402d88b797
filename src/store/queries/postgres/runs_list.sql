SELECT id, campaign, occurrence, state, summary, created_at, finished_at
FROM runs
WHERE $1::text IS NULL OR campaign = $1
ORDER BY id DESC
LIMIT $2
