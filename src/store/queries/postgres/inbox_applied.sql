-- Marks an inbox item applied, once: a second application changes nothing.
UPDATE inbox SET applied_at = $2 WHERE id = $1 AND applied_at IS NULL
