-- The earliest moment something is waiting for: a queued attempt of an active campaign,
-- or an inbox item.
SELECT MIN(t) FROM (
    SELECT MIN(a.not_before) AS t
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN campaigns c ON c.id = r.campaign
    WHERE a.state = 'queued' AND COALESCE(c.state, 'active') = 'active'
    UNION ALL
    SELECT MIN(due_at) FROM inbox WHERE applied_at IS NULL
) AS due
