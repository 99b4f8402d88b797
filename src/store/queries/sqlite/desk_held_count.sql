-- How many desk calls an agent holds.
SELECT COUNT(*) FROM attempts WHERE channel = 'agent' AND state = 'sent' AND held_by = ?1
