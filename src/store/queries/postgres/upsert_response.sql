-- A survey answer; a later answer to the same question in the same run replaces it and
-- counts the revision up (the first answer's moment is kept). An answer older than the
-- one recorded never replaces it.
INSERT INTO responses (run_id, campaign, contact_id, attempt_id, question, kind, score, answer, raw,
                       channel, variant, revision, first_answered_at, answered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)
ON CONFLICT (run_id, contact_id, question) DO UPDATE SET
    attempt_id = excluded.attempt_id,
    score = excluded.score,
    answer = excluded.answer,
    raw = excluded.raw,
    channel = excluded.channel,
    revision = responses.revision + 1,
    answered_at = excluded.answered_at
WHERE excluded.answered_at >= responses.answered_at
