SELECT COUNT(*) FROM inbox WHERE applied_at IS NULL
