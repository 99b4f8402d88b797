-- A campaign's sends by quarter hour (UTC) and result, for the by-hour breakdown: the
-- caller moves each quarter into the schedule's time zone (a quarter hour is exact for every
-- zone offset in use). Times are stored as text, so the parts are substrings.
-- ?1 campaign; ?2 run id or NULL; ?3 JSON array of the outcomes that convert; ?4 1 when a
-- delivery converts; ?5 1 when a survey answer converts. The per-attempt part is the same as
-- report_breakdown's.
WITH per_attempt AS (
    SELECT a.id, a.run_id, a.contact_id, a.state, a.sent_at, a.connected,
           MAX(a.sent_at IS NOT NULL AND (a.connected = 1
               OR a.outcome IN ('delivered', 'opened', 'clicked', 'replied')
               OR e.kind IN ('delivered', 'opened', 'clicked', 'replied'))) AS delivered,
           MAX(a.outcome IN (SELECT value FROM json_each(?3))
               OR e.kind IN (SELECT value FROM json_each(?3))) AS by_outcome,
           EXISTS (SELECT 1 FROM responses x
                    WHERE x.run_id = a.run_id AND x.contact_id = a.contact_id
                      AND x.attempt_id = a.id) AS answered
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN events e ON e.attempt_id = a.id
    WHERE r.campaign = ?1 AND (?2 IS NULL OR a.run_id = ?2) AND a.sent_at IS NOT NULL
    GROUP BY a.id
)
SELECT substr(sent_at, 1, 10) AS day,
       CAST(substr(sent_at, 12, 2) AS INTEGER) AS hour,
       CAST(substr(sent_at, 15, 2) AS INTEGER) / 15 AS quarter,
       CASE WHEN by_outcome = 1 OR (?4 = 1 AND delivered = 1) OR (?5 = 1 AND answered = 1)
                 THEN 'converted'
            WHEN connected = 1 THEN 'reached'
            WHEN delivered = 1 THEN 'delivered'
            WHEN state IN ('sending', 'sent') THEN 'pending'
            ELSE 'not_reached' END AS result,
       COUNT(*) AS sends
FROM per_attempt
GROUP BY day, hour, quarter, result
ORDER BY day, hour, quarter, result
