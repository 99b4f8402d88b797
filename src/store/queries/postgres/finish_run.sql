-- $3: the summary as JSON text.
UPDATE runs SET state = $2, summary = $3::jsonb, finished_at = $4 WHERE id = $1
