-- `herald export events`: the columns of export::tables::EVENTS, in order (a test checks).
-- ?1 campaign or NULL; ?2 since, ?3 until (NULL: open), half-open on events.occurred_at.
-- Read a page at a time (SQLite hands each page over as one JSON array, see
-- store::json_page): ?5 (and ?6) the key of the previous page's last row, ?7 the page size.
-- CROSS JOIN keeps the first table the outer loop, read in id order: with plain joins
-- SQLite's planner starts from runs and sorts every row in a temporary B-tree for the
-- ORDER BY (a sort of millions of rows, past its page cache, for a whole export).
SELECT e.id AS event_id, e.attempt_id, a.run_id, r.campaign, a.contact_id, c.external_id,
       a.step, a.channel, e.kind, e.detail, e.payload, e.occurred_at, e.recorded_at
FROM events e
CROSS JOIN attempts a ON a.id = e.attempt_id
CROSS JOIN runs r ON r.id = a.run_id
CROSS JOIN contacts c ON c.id = a.contact_id
WHERE (?1 IS NULL OR r.campaign = ?1)
  AND (?2 IS NULL OR e.occurred_at >= ?2)
  AND (?3 IS NULL OR e.occurred_at < ?3)
  AND e.id > ?5
ORDER BY e.id
LIMIT ?7
