-- The provider reported on attempt $1, which herald had not recorded as sent (the answer
-- to the send was lost in a crash): the send happened, at $2. $3 is now.
UPDATE attempts
SET state = 'sent', sent_at = $2, claimed_at = NULL, claimed_by = NULL, updated_at = $3
WHERE id = $1 AND sent_at IS NULL AND state IN ('queued', 'sending')
