SELECT COUNT(*) FROM attempts WHERE run_id = $1 AND state IN ('queued', 'sending', 'sent')
