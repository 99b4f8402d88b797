-- A campaign's contacts (one per run) and sends by step or by channel, for reports.
-- $1 campaign; $2 run id or NULL; $3 'step' or 'channel'; $4 the outcomes that convert;
-- $5 true when a delivery converts (reminders); $6 true when a survey answer converts.
-- A conversion counts on the attempt it happened on (a survey answer on the attempt it
-- was given to). The per-attempt part is the same as report_sends_by_time's.
WITH per_attempt AS (
    SELECT a.id, a.run_id, a.contact_id, a.step, a.step_index, a.channel, a.sent_at,
           a.connected,
           bool_or(a.sent_at IS NOT NULL AND (a.connected
               OR a.outcome IN ('delivered', 'opened', 'clicked', 'replied')
               OR e.kind IN ('delivered', 'opened', 'clicked', 'replied'))) AS delivered,
           bool_or(a.outcome = ANY($4::text[]) OR e.kind = ANY($4::text[])) AS by_outcome,
           EXISTS (SELECT 1 FROM responses x
                    WHERE x.run_id = a.run_id AND x.contact_id = a.contact_id
                      AND x.attempt_id = a.id) AS answered
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN events e ON e.attempt_id = a.id
    WHERE r.campaign = $1 AND ($2::bigint IS NULL OR a.run_id = $2)
    GROUP BY a.id
)
-- run_id * 2^32 + contact_id: one number per (run, contact) pair.
SELECT * FROM (
SELECT CASE $3::text WHEN 'step' THEN step ELSE channel END AS key,
       MIN(step_index) AS ord,
       COUNT(DISTINCT run_id * 4294967296 + contact_id) AS contacts,
       COUNT(DISTINCT CASE WHEN sent_at IS NOT NULL
                           THEN run_id * 4294967296 + contact_id END) AS attempted,
       COUNT(DISTINCT CASE WHEN delivered
                           THEN run_id * 4294967296 + contact_id END) AS delivered,
       COUNT(DISTINCT CASE WHEN connected
                           THEN run_id * 4294967296 + contact_id END) AS reached,
       COUNT(DISTINCT CASE WHEN by_outcome OR ($5::boolean AND delivered)
                                OR ($6::boolean AND answered)
                           THEN run_id * 4294967296 + contact_id END) AS converted,
       COUNT(sent_at) AS sends
FROM per_attempt
GROUP BY 1
) AS by_key
ORDER BY ord, key COLLATE "C"
