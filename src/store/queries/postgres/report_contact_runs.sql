-- One row per (run, contact) among a campaign's runs (or one run): what happened to that
-- contact in that run, for reports. Pages are ranges of contact ids ($7, $8], which the
-- index on attempts (contact_id, ...) reads directly, so the report is one pass however
-- large the ledger.
-- $1 campaign; $2 run id or NULL for every run; $3 the outcomes that convert (as an
-- attempt's outcome or an event on it); $4 NPS question id or NULL; $5 CSAT question id or
-- NULL; $6 the A/B step or NULL; $7 contact id after which the page starts; $8 last
-- contact id of the page.
-- An attempt joins its events, so a flag is true when the attempt's outcome or any of its
-- events says so; bool_or over the duplicated rows keeps flags exact (NULL when every
-- operand was NULL, which reads as false).
WITH pairs AS (
    SELECT a.run_id, a.contact_id,
           bool_or(a.sent_at IS NOT NULL) AS attempted,
           bool_or(a.connected) AS reached,
           bool_or(a.sent_at IS NOT NULL AND (a.connected
               OR a.outcome IN ('delivered', 'opened', 'clicked', 'replied')
               OR e.kind IN ('delivered', 'opened', 'clicked', 'replied'))) AS delivered,
           bool_or(a.outcome = 'wrong_number' OR e.kind = 'wrong_number') AS wrong_number,
           bool_or(a.outcome = 'promise_to_pay' OR e.kind = 'promise_to_pay') AS promised,
           bool_or(a.outcome = 'paid' OR e.kind = 'paid') AS paid,
           bool_or(a.outcome = ANY($3::text[]) OR e.kind = ANY($3::text[])) AS converted,
           bool_or(a.state IN ('queued', 'sending')) AS open
    FROM attempts a
    JOIN runs r ON r.id = a.run_id
    LEFT JOIN events e ON e.attempt_id = a.id
    WHERE a.contact_id > $7 AND a.contact_id <= $8
      AND r.campaign = $1 AND ($2::bigint IS NULL OR a.run_id = $2)
    GROUP BY a.contact_id, a.run_id
)
SELECT p.run_id, p.contact_id, p.attempted, p.reached, p.delivered, p.wrong_number,
       p.promised, p.paid, p.converted, p.open,
       (SELECT COALESCE(s.reason, s.state) FROM attempts s
         WHERE s.run_id = p.run_id AND s.contact_id = p.contact_id
           AND s.state IN ('skipped', 'cancelled')
         ORDER BY s.id DESC LIMIT 1) AS skip_reason,
       -- '' for an attempt on the A/B step without a variant, NULL for none on it.
       (SELECT COALESCE(v.variant, '') FROM attempts v
         WHERE v.run_id = p.run_id AND v.contact_id = p.contact_id AND v.step = $6::text
         ORDER BY v.attempt_no LIMIT 1) AS variant,
       EXISTS (SELECT 1 FROM responses x
                WHERE x.run_id = p.run_id AND x.contact_id = p.contact_id) AS responded,
       (SELECT x.score::bigint FROM responses x
         WHERE x.run_id = p.run_id AND x.contact_id = p.contact_id
           AND x.question = $4::text) AS nps,
       (SELECT x.score::bigint FROM responses x
         WHERE x.run_id = p.run_id AND x.contact_id = p.contact_id
           AND x.question = $5::text) AS csat
FROM pairs p
ORDER BY p.contact_id, p.run_id
