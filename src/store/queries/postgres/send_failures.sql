-- Temporary send failures recorded for attempt $1.
SELECT COUNT(*) FROM events WHERE attempt_id = $1 AND kind = 'send_failed'
