-- A campaign's sends by quarter hour (`at`, its start) and result, for the by-hour
-- breakdown: the caller moves each quarter into the schedule's time zone (a quarter hour
-- is exact for every zone offset in use).
-- $1 campaign; $2 run id or NULL; $3 the outcomes that convert; $4 true when a delivery
-- converts; $5 true when a survey answer converts. The per-attempt part is the same as
-- report_breakdown's.
WITH per_attempt AS (
    SELECT a.id, a.run_id, a.contact_id, a.state, a.sent_at, a.connected,
           bool_or(a.sent_at IS NOT NULL AND (a.connected
               OR a.outcome IN ('delivered', 'opened', 'clicked', 'replied')
               OR e.kind IN ('delivered', 'opened', 'clicked', 'replied'))) AS delivered,
           bool_or(a.outcome = ANY($3::text[]) OR e.kind = ANY($3::text[])) AS by_outcome,
           EXISTS (SELECT 1 FROM responses x
                    WHERE x.run_id = a.run_id AND x.contact_id = a.contact_id
                      AND x.attempt_id = a.id) AS answered
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN events e ON e.attempt_id = a.id
    WHERE r.campaign = $1 AND ($2::bigint IS NULL OR a.run_id = $2) AND a.sent_at IS NOT NULL
    GROUP BY a.id
)
SELECT to_timestamp(floor(extract(epoch FROM sent_at) / 900) * 900) AS at,
       CASE WHEN by_outcome OR ($4::boolean AND delivered) OR ($5::boolean AND answered)
                 THEN 'converted'
            WHEN connected THEN 'reached'
            WHEN delivered THEN 'delivered'
            WHEN state IN ('sending', 'sent') THEN 'pending'
            ELSE 'not_reached' END AS result,
       COUNT(*) AS sends
FROM per_attempt
GROUP BY 1, 2
ORDER BY 1, 2
