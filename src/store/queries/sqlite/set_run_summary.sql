-- Stores the plan and opens the run for dispatching (planning → running).
UPDATE runs SET summary = ?2, state = CASE WHEN state = 'planning' THEN 'running' ELSE state END WHERE id = ?1
