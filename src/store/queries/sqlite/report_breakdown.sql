-- A campaign's contacts (one per run) and sends by step or by channel, for reports.
-- ?1 campaign; ?2 run id or NULL; ?3 'step' or 'channel'; ?4 JSON array of the outcomes
-- that convert; ?5 1 when a delivery converts (reminders); ?6 1 when a survey answer
-- converts. A conversion counts on the attempt it happened on (a survey answer on the
-- attempt it was given to). The per-attempt part is the same as report_sends_by_time's.
WITH per_attempt AS (
    SELECT a.id, a.run_id, a.contact_id, a.step, a.step_index, a.channel, a.sent_at,
           a.connected,
           MAX(a.sent_at IS NOT NULL AND (a.connected = 1
               OR a.outcome IN ('delivered', 'opened', 'clicked', 'replied')
               OR e.kind IN ('delivered', 'opened', 'clicked', 'replied'))) AS delivered,
           MAX(a.outcome IN (SELECT value FROM json_each(?4))
               OR e.kind IN (SELECT value FROM json_each(?4))) AS by_outcome,
           EXISTS (SELECT 1 FROM responses x
                    WHERE x.run_id = a.run_id AND x.contact_id = a.contact_id
                      AND x.attempt_id = a.id) AS answered
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN events e ON e.attempt_id = a.id
    WHERE r.campaign = ?1 AND (?2 IS NULL OR a.run_id = ?2)
    GROUP BY a.id
)
-- run_id * 2^32 + contact_id: one number per (run, contact) pair.
SELECT CASE ?3 WHEN 'step' THEN step ELSE channel END AS key,
       MIN(step_index) AS ord,
       COUNT(DISTINCT run_id * 4294967296 + contact_id) AS contacts,
       COUNT(DISTINCT CASE WHEN sent_at IS NOT NULL
                           THEN run_id * 4294967296 + contact_id END) AS attempted,
       COUNT(DISTINCT CASE WHEN delivered = 1
                           THEN run_id * 4294967296 + contact_id END) AS delivered,
       COUNT(DISTINCT CASE WHEN connected = 1
                           THEN run_id * 4294967296 + contact_id END) AS reached,
       COUNT(DISTINCT CASE WHEN by_outcome = 1 OR (?5 = 1 AND delivered = 1)
                                OR (?6 = 1 AND answered = 1)
                           THEN run_id * 4294967296 + contact_id END) AS converted,
       SUM(sent_at IS NOT NULL) AS sends
FROM per_attempt
GROUP BY key
ORDER BY ord, key
