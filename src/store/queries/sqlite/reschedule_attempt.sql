UPDATE attempts
SET state = 'queued', not_before = ?2, reason = ?3, claimed_at = NULL, claimed_by = NULL, updated_at = ?4
WHERE id = ?1 AND state IN ('queued', 'sending')
