-- `herald export attempts`: the columns of export::tables::ATTEMPTS, in order (a test checks).
-- ?1 campaign or NULL; ?2 since, ?3 until (NULL: open), half-open on attempts.created_at.
-- Read a page at a time (SQLite hands each page over as one JSON array, see
-- store::json_page): ?5 (and ?6) the key of the previous page's last row, ?7 the page size.
-- CROSS JOIN keeps the first table the outer loop, read in id order: with plain joins
-- SQLite's planner starts from runs and sorts every row in a temporary B-tree for the
-- ORDER BY (a sort of millions of rows, past its page cache, for a whole export).
SELECT a.id AS attempt_id, a.run_id, r.campaign, a.contact_id, c.external_id, a.step, a.channel,
       a.attempt_no, a.variant, a.prompt, a.state, a.outcome, a.reason, a.connected,
       a.not_before, a.sent_at, a.idempotency_key, a.provider_ref, a.created_at, a.updated_at
FROM attempts a
CROSS JOIN runs r ON r.id = a.run_id
CROSS JOIN contacts c ON c.id = a.contact_id
WHERE (?1 IS NULL OR r.campaign = ?1)
  AND (?2 IS NULL OR a.created_at >= ?2)
  AND (?3 IS NULL OR a.created_at < ?3)
  AND a.id > ?5
ORDER BY a.id
LIMIT ?7
