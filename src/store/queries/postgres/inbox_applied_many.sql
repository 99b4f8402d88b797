-- Marks inbox items ($1, an array of ids) applied, each once; returns the items marked now.
-- The array drives the update through the primary key: with `id = ANY($1)` the planner
-- read the pending-items index instead once the inbox had grown during a large dispatch.
UPDATE inbox i SET applied_at = $2
FROM UNNEST($1::bigint[]) AS u (id)
WHERE i.id = u.id AND i.applied_at IS NULL
RETURNING i.id
