-- Claims, for the daemon named ?3, up to ?2 attempts due at ?1 in one statement, so two
-- dispatchers never take the same one. Attempts of paused or cancelled campaigns stay where they are.
UPDATE attempts
SET state = 'sending', claimed_at = ?1, claimed_by = ?3, updated_at = ?1
WHERE id IN (
    SELECT a.id
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN campaigns c ON c.id = r.campaign
    WHERE a.state = 'queued' AND a.not_before <= ?1 AND COALESCE(c.state, 'active') = 'active'
    ORDER BY a.not_before, a.id
    LIMIT ?2
)
RETURNING id
