SELECT question, kind, score, answer, raw, channel, revision, first_answered_at, answered_at
FROM responses
WHERE run_id = $1 AND contact_id = $2
ORDER BY id
