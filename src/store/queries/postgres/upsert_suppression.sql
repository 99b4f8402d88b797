-- Re-adding an entry refreshes its reason, source and expiry instead of duplicating it.
INSERT INTO suppressions (kind, target_kind, value, channel, reason, source, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (target_kind, value, kind, (COALESCE(channel, '*'))) DO UPDATE SET
    reason = excluded.reason,
    source = excluded.source,
    expires_at = excluded.expires_at
