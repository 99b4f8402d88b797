-- Entries in force at $1 (all when $2 is true), newest first, at most $3.
SELECT kind, target_kind, value, channel, reason, source, created_at, expires_at
FROM suppressions
WHERE $2::boolean OR expires_at IS NULL OR expires_at > $1
ORDER BY created_at DESC, id DESC
LIMIT $3
