-- Stores the plan ($2, JSON text) and opens the run for dispatching (planning → running).
UPDATE runs
SET summary = $2::jsonb, state = CASE WHEN state = 'planning' THEN 'running' ELSE state END
WHERE id = $1
