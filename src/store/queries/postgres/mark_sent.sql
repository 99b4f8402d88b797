UPDATE attempts
SET state = 'sent', sent_at = $2, provider_ref = $3, updated_at = $2
WHERE id = $1 AND state = 'sending'
