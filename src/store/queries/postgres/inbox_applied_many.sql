-- Marks inbox items ($1, an array of ids) applied, each once; returns the items marked now.
UPDATE inbox SET applied_at = $2 WHERE id = ANY($1::bigint[]) AND applied_at IS NULL
RETURNING id
