-- `herald export responses`: the columns of export::tables::RESPONSES, in order (a test
-- checks). ?1 campaign or NULL; ?2 since, ?3 until (NULL: open), half-open on answered_at.
-- Read a page at a time (SQLite hands each page over as one JSON array, see
-- store::json_page): ?5 (and ?6) the key of the previous page's last row, ?7 the page size.
SELECT s.id AS response_id, s.run_id, s.attempt_id, s.campaign, s.contact_id, c.external_id,
       s.question, s.kind, s.score, s.answer, s.raw, s.channel, s.variant, s.revision,
       s.first_answered_at, s.answered_at
FROM responses s
CROSS JOIN contacts c ON c.id = s.contact_id
WHERE (?1 IS NULL OR s.campaign = ?1)
  AND (?2 IS NULL OR s.answered_at >= ?2)
  AND (?3 IS NULL OR s.answered_at < ?3)
  AND s.id > ?5
ORDER BY s.id
LIMIT ?7
