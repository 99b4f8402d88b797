-- $2: the outcomes that count as a conversion for this campaign: an attempt's outcome, or
-- an event on it (a reply or a click leaves a delivered SMS or e-mail delivered).
SELECT
    COUNT(DISTINCT a.contact_id) AS contacts,
    COUNT(DISTINCT CASE WHEN a.sent_at IS NOT NULL THEN a.contact_id END) AS attempted,
    COUNT(DISTINCT CASE WHEN a.connected THEN a.contact_id END) AS reached,
    COUNT(DISTINCT CASE
        WHEN a.outcome = ANY($2::text[])
          OR EXISTS (SELECT 1 FROM events e WHERE e.attempt_id = a.id AND e.kind = ANY($2::text[]))
        THEN a.contact_id END) AS converted,
    SUM(CASE WHEN a.sent_at IS NOT NULL THEN 1 ELSE 0 END)::bigint AS sent,
    SUM(CASE WHEN a.channel = 'agent' AND a.connected THEN 1 ELSE 0 END)::bigint AS agent_calls,
    COUNT(DISTINCT r.id) AS runs
FROM attempts a
JOIN runs r ON r.id = a.run_id
WHERE r.campaign = $1
